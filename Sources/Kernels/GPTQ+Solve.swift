/// The column loop of GPTQ over one tile of rows at a time (see `GPTQ`).
struct SolvePlan {
    let factor: GPTQFactor
    let options: GPTQSolveOptions
    let columns: Int
    let groupLength: Int
    let groups: Int
    /// Scales fitted when a group's first column is reached (else once, before the loop).
    let dynamicGroups: Bool
    let blocks: [Range<Int>]
    /// Group of each processing position.
    let groupOfPosition: [Int]
    /// g_idx: group of each original column.
    let groupIndex: [Int32]
    let permutation: [Int]
    let isDead: [Bool]
    /// diag H in original column order (weights of static fits).
    let originalDiagonal: [Float]

    init(factor: GPTQFactor, options: GPTQSolveOptions) {
        self.factor = factor
        self.options = options
        let k = factor.columns
        columns = k
        groupLength = try! options.scheme.groupLength(columns: k)
        groups = k / groupLength
        dynamicGroups = !options.staticGroups && groups > 1
        blocks = GPTQ.blocks(columns: k, blockSize: options.blockSize, groupLength: groupLength, dynamicGroups: dynamicGroups)
        permutation = factor.permutation.map(Int.init)
        var dead = [Bool](repeating: false, count: k)
        for d in factor.deadColumns { dead[Int(d)] = true }
        isDead = dead
        var diagonal = [Float](repeating: 0, count: k)
        var index = [Int32](repeating: 0, count: k)
        var groupOf = [Int](repeating: 0, count: k)
        for j in 0..<k {
            let original = permutation[j]
            diagonal[original] = factor.hessianDiagonal[j]
            groupOf[j] = (dynamicGroups ? j : original) / groupLength
            index[original] = Int32(groupOf[j])
        }
        originalDiagonal = diagonal
        groupIndex = index
        groupOfPosition = groupOf
    }

    /// Solves `rows` rows at `weights` (rows × K, original order) tile by tile.
    func run(_ weights: UnsafePointer<Float>, rows: Int, output: inout SolveOutput) {
        let k = columns
        let tile = min(options.rowTile, max(rows, 1))
        let widest = blocks.map(\.count).max() ?? 0
        var work = [Float](repeating: 0, count: tile * k)
        var errors = [Float](repeating: 0, count: tile * widest)
        var original = [Float](repeating: 0, count: k)
        for t0 in stride(from: 0, to: rows, by: tile) {
            let t1 = min(t0 + tile, rows)
            work.withUnsafeMutableBufferPointer { work in
                errors.withUnsafeMutableBufferPointer { errors in
                    original.withUnsafeMutableBufferPointer { original in
                        solveTile(weights, rows: t0..<t1, work: work.baseAddress!, errors: errors.baseAddress!, errorStride: widest,
                                  original: original.baseAddress!, output: &output)
                    }
                }
            }
        }
    }

    private func solveTile(_ weights: UnsafePointer<Float>, rows: Range<Int>, work: UnsafeMutablePointer<Float>,
                           errors: UnsafeMutablePointer<Float>, errorStride: Int, original: UnsafeMutablePointer<Float>,
                           output: inout SolveOutput) {
        let k = columns, g = groups, scheme = options.scheme
        let (codeMin, codeMax) = (Float(scheme.codeMin), Float(scheme.codeMax))
        factor.inverseFactor.withUnsafeBufferPointer { u in
            let u = u.baseAddress!
            output.codes.withUnsafeMutableBufferPointer { codes in
                output.scales.withUnsafeMutableBufferPointer { scales in
                    output.zeros.withUnsafeMutableBufferPointer { zeros in
                        output.losses.withUnsafeMutableBufferPointer { losses in
                            factor.hessianDiagonal.withUnsafeBufferPointer { diagonal in
                                originalDiagonal.withUnsafeBufferPointer { originalDiagonal in
                                    // Load the tile in processing order, dead columns zeroed; fit static parameters.
                                    for (r, n) in rows.enumerated() {
                                        let source = weights + n * k
                                        for c in 0..<k { original[c] = isDead[c] ? 0 : source[c] }
                                        let row = work + r * k
                                        for j in 0..<k { row[j] = original[permutation[j]] }
                                        if !dynamicGroups {
                                            for group in 0..<g {
                                                let p = QuantizationGrid.fit(original + group * groupLength, count: groupLength,
                                                                             weights: originalDiagonal.baseAddress! + group * groupLength,
                                                                             scheme: scheme, clipping: options.clipping)
                                                scales[n * g + group] = p.scale
                                                zeros[n * g + group] = p.zero
                                            }
                                        }
                                    }
                                    for block in blocks {
                                        let (i1, i2) = (block.lowerBound, block.upperBound)
                                        for (r, n) in rows.enumerated() {
                                            let row = work + r * k
                                            let e = errors + r * errorStride
                                            var loss = 0.0
                                            for j in i1..<i2 {
                                                let group = groupOfPosition[j]
                                                if dynamicGroups && j % groupLength == 0 {
                                                    let p = QuantizationGrid.fit(row + j, count: groupLength, weights: diagonal.baseAddress! + j,
                                                                                 scheme: scheme, clipping: options.clipping)
                                                    scales[n * g + group] = p.scale
                                                    zeros[n * g + group] = p.zero
                                                }
                                                let parameters = GroupParameters(scale: scales[n * g + group], zero: zeros[n * g + group])
                                                let w = row[j]
                                                let q = parameters.code(w, codeMin: codeMin, codeMax: codeMax)
                                                let difference = w - parameters.dequantized(q)
                                                let d = u[j * k + j]
                                                let err = difference / d  // Alg. 1, line 7
                                                loss += Double(difference) * Double(difference) / (Double(d) * Double(d))
                                                codes[n * k + permutation[j]] = Int8(q)
                                                e[j - i1] = err
                                                let uRow = u + j * k
                                                for t in (j + 1)..<i2 { row[t] -= err * uRow[t] }  // Alg. 1, line 8
                                            }
                                            losses[n] += loss
                                        }
                                        // Alg. 1, line 11: W[:, i2:] −= E · U[i1:i2, i2:], one GEMM per block.
                                        if i2 < k {
                                            BLAS.sgemm(m: rows.count, n: k - i2, k: i2 - i1, alpha: -1, a: errors, lda: errorStride,
                                                       b: u + i1 * k + i2, ldb: k, beta: 1, c: work + i2, ldc: k)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
