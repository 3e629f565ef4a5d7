import Dispatch

/// The column loop of GPTQ over one tile of rows at a time (see `GPTQ`).
struct GPTQTilePlan {
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
        // Cannot throw: `GPTQ.solve` checks the group size against K before building the plan.
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

    /// Solves `rows` rows at `weights` (rows × K, original order) tile by tile, the tiles spread
    /// over `threads` threads (each with its own workspace; tiles are independent and a tile's
    /// arithmetic does not depend on the thread that runs it, so the bytes do not either).
    func run(_ weights: UnsafePointer<Float>, rows: Int, threads: Int, output: inout SolveOutput) {
        let tile = min(options.rowTile, max(rows, 1))
        let tiles = (rows + tile - 1) / tile
        let lanes = max(1, min(threads, tiles))
        let widest = blocks.map(\.count).max() ?? 0
        let source = UncheckedPointer(base: weights)
        output.withPointers { out in
            DispatchQueue.concurrentPerform(iterations: lanes) { lane in
                var workspace = TileWorkspace(tile: tile, columns: columns, groups: groups, widestBlock: widest)
                for index in stride(from: lane, to: tiles, by: lanes) {
                    let t0 = index * tile
                    solveTile(source.base, rows: t0..<min(t0 + tile, rows), workspace: &workspace, output: out)
                }
            }
        }
    }

    /// One tile of rows. Within a block the tile's columns are transposed (column-major, rows
    /// contiguous), so that every step of the column loop — quantize column j of all rows, then the
    /// rank-1 update of the block's later columns — is a vector operation across rows. Each row's
    /// arithmetic is the same sequence of IEEE operations whatever the tile, so rows stay independent
    /// bit for bit.
    private func solveTile(_ weights: UnsafePointer<Float>, rows: Range<Int>, workspace: inout TileWorkspace, output: SolvePointers) {
        let (k, g, t, scheme) = (columns, groups, rows.count, options.scheme)
        workspace.reset(rows: t)
        workspace.withPointers { work, blockT, errors, errorStride, tileScales, tileZeros, tileLosses, codesColumn, errorColumn, values in
            loadTile(weights, rows: rows, work: work, tileScales: tileScales, tileZeros: tileZeros, values: values)
            factor.inverseFactor.withUnsafeBufferPointer { u in
                factor.hessianDiagonal.withUnsafeBufferPointer { diagonal in
                    let (u, codes) = (u.baseAddress!, output.codes)
                    let (codeMin, codeMax) = (Float(scheme.codeMin), Float(scheme.codeMax))
                    for block in blocks {
                        let (i1, i2) = (block.lowerBound, block.upperBound)
                        let count = i2 - i1
                        // blockT[c·t + r] = work[r, i1 + c]
                        for r in 0..<t { for c in 0..<count { blockT[c * t + r] = work[r * k + i1 + c] } }
                        for c in 0..<count {
                            let j = i1 + c
                            let group = groupOfPosition[j]
                            if dynamicGroups && j % groupLength == 0 {
                                // The group's current weights: in blockT up to the block's end, then in work.
                                for r in 0..<t {
                                    let inBlock = min(groupLength, count - c)
                                    for m in 0..<inBlock { values[m] = blockT[(c + m) * t + r] }
                                    for m in inBlock..<groupLength { values[m] = work[r * k + j + m] }
                                    let p = QuantizationGrid.fit(values, count: groupLength, weights: diagonal.baseAddress! + j,
                                                                 scheme: scheme, clipping: options.clipping)
                                    tileScales[group * t + r] = p.scale
                                    tileZeros[group * t + r] = p.zero
                                }
                            }
                            let d = u[j * k + j]
                            let dd = Double(d) * Double(d)
                            let column = blockT + c * t
                            let scale = tileScales + group * t, zero = tileZeros + group * t
                            for r in 0..<t {  // Alg. 1, lines 6–7, for all rows at once
                                let w = column[r]
                                let q = min(max((w / scale[r] + zero[r]).rounded(.toNearestOrEven), codeMin), codeMax)
                                let difference = w - (q - zero[r]) * scale[r]
                                codesColumn[r] = q
                                errorColumn[r] = difference / d
                                tileLosses[r] += Double(difference) * Double(difference) / dd
                            }
                            let original = permutation[j]
                            for r in 0..<t {
                                // NaN (a solve that overflowed float32) is written as 0 and refused after the solve.
                                codes[(rows.lowerBound + r) * k + original] = codesColumn[r].isNaN ? 0 : Int8(codesColumn[r])
                                errors[r * errorStride + c] = errorColumn[r]
                            }
                            let uRow = u + j * k + i1
                            for m in (c + 1)..<count {  // Alg. 1, line 8, within the block
                                let factor = uRow[m]
                                let target = blockT + m * t
                                for r in 0..<t { target[r] -= errorColumn[r] * factor }
                            }
                        }
                        // Alg. 1, line 11: W[:, i2:] −= E · U[i1:i2, i2:], one product per block, in
                        // a fixed order per element (BLAS's sgemm changes bits with its threads).
                        if i2 < k {
                            ProductUpdate.subtract(m: t, n: k - i2, k: count, a: errors, lda: errorStride,
                                                   b: u + i1 * k + i2, ldb: k, c: work + i2, ldc: k)
                        }
                    }
                }
            }
            for (r, n) in rows.enumerated() {
                output.losses[n] = tileLosses[r]
                for group in 0..<g {
                    output.scales[n * g + group] = tileScales[group * t + r]
                    output.zeros[n * g + group] = tileZeros[group * t + r]
                }
            }
        }
    }

    /// Copies the tile's rows into `work` in processing order, dead columns zeroed, and fits static
    /// parameters (per channel, or static groups) to the original rows.
    private func loadTile(_ weights: UnsafePointer<Float>, rows: Range<Int>, work: UnsafeMutablePointer<Float>,
                          tileScales: UnsafeMutablePointer<Float>, tileZeros: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>) {
        let (k, t) = (columns, rows.count)
        originalDiagonal.withUnsafeBufferPointer { diagonal in
            for (r, n) in rows.enumerated() {
                let source = weights + n * k
                for c in 0..<k { values[c] = isDead[c] ? 0 : source[c] }
                let row = work + r * k
                for j in 0..<k { row[j] = values[permutation[j]] }
                guard !dynamicGroups else { continue }
                for group in 0..<groups {
                    let p = QuantizationGrid.fit(values + group * groupLength, count: groupLength, weights: diagonal.baseAddress! + group * groupLength,
                                                 scheme: options.scheme, clipping: options.clipping)
                    tileScales[group * t + r] = p.scale
                    tileZeros[group * t + r] = p.zero
                }
            }
        }
    }
}

/// A pointer handed to the solve's threads, which only read through it.
struct UncheckedPointer: @unchecked Sendable {
    let base: UnsafePointer<Float>
}

/// Buffers of one tile, allocated once per thread of a solve.
struct TileWorkspace {
    let tile: Int, columns: Int, groups: Int, widestBlock: Int
    private(set) var rows = 0
    var work: [Float]
    var blockT: [Float]
    var errors: [Float]
    var scales: [Float]
    var zeros: [Float]
    var losses: [Double]
    var codesColumn: [Float]
    var errorColumn: [Float]
    var values: [Float]

    init(tile: Int, columns: Int, groups: Int, widestBlock: Int) {
        (self.tile, self.columns, self.groups, self.widestBlock) = (tile, columns, groups, widestBlock)
        work = [Float](repeating: 0, count: tile * columns)
        blockT = [Float](repeating: 0, count: tile * widestBlock)
        errors = [Float](repeating: 0, count: tile * widestBlock)
        scales = [Float](repeating: 0, count: tile * groups)
        zeros = [Float](repeating: 0, count: tile * groups)
        losses = [Double](repeating: 0, count: tile)
        codesColumn = [Float](repeating: 0, count: tile)
        errorColumn = [Float](repeating: 0, count: tile)
        values = [Float](repeating: 0, count: columns)
    }

    /// Prepares for a tile of `rows` rows (the last tile may be short); losses start at 0.
    mutating func reset(rows: Int) {
        self.rows = rows
        for r in 0..<rows { losses[r] = 0 }
    }

    /// Calls `body` with every buffer's base address (work, blockT, errors, errors' row stride,
    /// scales and zeros [group][row], losses, the current column's codes and errors, a row of values).
    mutating func withPointers(_ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int,
                                        UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Double>,
                                        UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let stride = widestBlock
        work.withUnsafeMutableBufferPointer { work in
            blockT.withUnsafeMutableBufferPointer { blockT in
                errors.withUnsafeMutableBufferPointer { errors in
                    scales.withUnsafeMutableBufferPointer { scales in
                        zeros.withUnsafeMutableBufferPointer { zeros in
                            losses.withUnsafeMutableBufferPointer { losses in
                                codesColumn.withUnsafeMutableBufferPointer { codes in
                                    errorColumn.withUnsafeMutableBufferPointer { errorColumn in
                                        values.withUnsafeMutableBufferPointer { values in
                                            body(work.baseAddress!, blockT.baseAddress!, errors.baseAddress!, stride, scales.baseAddress!,
                                                 zeros.baseAddress!, losses.baseAddress!, codes.baseAddress!, errorColumn.baseAddress!,
                                                 values.baseAddress!)
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
