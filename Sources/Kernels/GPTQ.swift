/// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative
/// Pre-trained Transformers"), split for distribution into a shared preparation
/// (`prepareFactor`, from H alone) and solves of any set of output rows (`solve`).
///
/// Minimises ‖X (W − Q)ᵀ‖² row by row: quantize column j, then spread its scaled error
/// E = (w_j − q_j) / U[j, j] over the remaining columns through row j of U (Algorithm 1).
///   W, Q   N × K weights and their quantized values, row-major (N outputs, K inputs)
///   H      K × K, H = 2·XᵀX / n, from the statistics' float64 sums
///   U      `GPTQFactor.inverseFactor`, upper Cholesky factor of (H + λI)⁻¹ in processing order
///   B      `blockSize` columns per lazy batch: updates inside a block are applied column by
///          column, those to later columns once per block as one GEMM (Alg. 1, lines 10–12)
/// Rows never interact, which is what lets a matrix be split by rows across workers.
public enum GPTQ {
    /// Solves rows `request.firstRow ..< firstRow + request.weights.rows` of a weight matrix.
    /// - Parameters:
    ///   - request: the rows (original column order), their position, the options.
    ///   - factor: the shared factor of the matrix's input.
    ///   - name: layer and module, for error messages.
    /// - Returns: codes (original column order), scales and zero points per (row, group), g_idx and
    ///   GPTQ's loss per row; identical bit for bit to the same rows of a whole-matrix solve when
    ///   `firstRow` is a multiple of `options.rowTile`, whatever `threads` (row tiles run on that
    ///   many threads; default: the process's BLAS thread count, the worker's `--threads`).
    /// - Throws: `KernelError.invalidArgument` for a width that differs from the factor's, a
    ///   group size that does not divide K, or a first row off the tile grid; `.nonFinite` for NaN
    ///   or ±Inf weights.
    public static func solve(_ request: GPTQSolveRequest, factor: GPTQFactor, name: String = "",
                             threads: Int = BLAS.threadCount) throws(KernelError) -> GPTQSolveResult {
        let options = request.options
        let (rows, k) = (request.weights.rows, factor.columns)
        let context = name.isEmpty ? "GPTQ" : "GPTQ \(name)"
        guard request.weights.columns == k else {
            throw KernelError(.invalidArgument, "\(context): weights have \(request.weights.columns) input columns, the factor \(k)")
        }
        try options.validate(columns: k)
        guard request.firstRow >= 0, request.firstRow % options.rowTile == 0 else {
            throw KernelError(.invalidArgument, "\(context): a row slice must start on a multiple of the row tile \(options.rowTile), found row \(request.firstRow)")
        }
        try RoundToNearest.checkFinite(request.weights, context)
        let plan = GPTQTilePlan(factor: factor, options: options)
        var output = SolveOutput(rows: rows, columns: k, groups: plan.groups)
        request.weights.values.withUnsafeBufferPointer { weights in
            plan.run(weights.baseAddress!, rows: rows, threads: threads, output: &output)
        }
        // Finite weights can still overflow float32 in the error propagation (weights near
        // Float.greatestFiniteMagnitude): such a row's loss, scales or zero points are not finite.
        if let row = (0..<rows).first(where: { row in
            !output.losses[row].isFinite || (0..<plan.groups).contains { !output.scales[row * plan.groups + $0].isFinite || !output.zeros[row * plan.groups + $0].isFinite }
        }) {
            let largest = request.weights.values.reduce(0) { max($0, abs($1)) }
            throw KernelError(.nonFinite, "\(context): row \(request.firstRow + row) overflows float32 during the solve (loss \(output.losses[row])); "
                              + "its weights (largest magnitude \(largest)) are not those of a working model")
        }
        let quantized = QuantizedWeights(
            unchecked: options.scheme, rows: rows, columns: k, codes: output.codes, scales: output.scales,
            zeroPoints: output.zeros.map { Int8($0) }, groupIndex: plan.groupIndex)
        return GPTQSolveResult(firstRow: request.firstRow, quantized: quantized, rowLosses: output.losses.map { $0 / 2 })
    }

    /// Assembles row-sliced results into the whole matrix's result.
    /// - Throws: `KernelError.invalidArgument` when the parts do not cover 0..<rows exactly once or
    ///   disagree in scheme, width or g_idx.
    public static func assemble(_ parts: [GPTQSolveResult], rows: Int, factor: GPTQFactor) throws(KernelError) -> GPTQResult {
        let sorted = parts.sorted { $0.firstRow < $1.firstRow }
        guard let first = sorted.first else { throw KernelError(.invalidArgument, "GPTQ assembly: no parts for \(rows) rows") }
        var next = 0
        for part in sorted {
            guard part.firstRow == next else {
                throw KernelError(.invalidArgument, "GPTQ assembly: rows \(next)..<\(part.firstRow) are \(part.firstRow > next ? "missing" : "covered twice")")
            }
            guard part.quantized.scheme == first.quantized.scheme, part.quantized.columns == factor.columns,
                  part.quantized.groupIndex == first.quantized.groupIndex, part.rowLosses.count == part.quantized.rows else {
                throw KernelError(.invalidArgument, "GPTQ assembly: the part at row \(part.firstRow) differs in scheme, width or g_idx from the first")
            }
            next += part.quantized.rows
        }
        guard next == rows else { throw KernelError(.invalidArgument, "GPTQ assembly: parts cover \(next) rows, expected \(rows)") }
        let quantized = QuantizedWeights(
            unchecked: first.quantized.scheme, rows: rows, columns: factor.columns,
            codes: sorted.flatMap(\.quantized.codes), scales: sorted.flatMap(\.quantized.scales),
            zeroPoints: sorted.flatMap(\.quantized.zeroPoints), groupIndex: first.quantized.groupIndex)
        let losses = sorted.flatMap(\.rowLosses)
        return GPTQResult(quantized: quantized, rowLosses: losses, loss: losses.reduce(0, +), dampingPercent: factor.dampingPercent,
                          damping: factor.damping, dampingRetries: factor.dampingRetries)
    }

    /// The whole matrix in one call: `prepareFactor`, `solve` of every row, `assemble`.
    public static func quantize(_ weights: Matrix, statistics: ActivationStatistics, factorOptions: GPTQFactorOptions = GPTQFactorOptions(),
                                solveOptions: GPTQSolveOptions, name: String = "") throws(KernelError) -> GPTQResult {
        let factor = try prepareFactor(statistics: statistics, options: factorOptions, name: name)
        let part = try solve(GPTQSolveRequest(firstRow: 0, weights: weights, options: solveOptions), factor: factor, name: name)
        return try assemble([part], rows: weights.rows, factor: factor)
    }

    /// The lazy-batch blocks over K processing positions. With dynamic groups of `groupLength`
    /// columns, a block ends early at a group start whose group would not fit in it: every group then
    /// either lies inside one block (its columns current through the in-block updates) or starts at
    /// a block start (every later column current after the previous block's GEMM). So a group's
    /// parameters are always fitted to its fully updated weights, as in the paper's unbatched
    /// algorithm. (The IST-DASLab code fits from stale values when a group starts inside a block;
    /// the two agree when B is a multiple of the group size.)
    public static func blocks(columns: Int, blockSize: Int, groupLength: Int, dynamicGroups: Bool) -> [Range<Int>] {
        var blocks: [Range<Int>] = []
        var i1 = 0
        while i1 < columns {
            var i2 = min(i1 + blockSize, columns)
            if dynamicGroups {
                var start = (i1 / groupLength + 1) * groupLength
                while start < i2 {
                    if start + groupLength > i2 {
                        i2 = start
                        break
                    }
                    start += groupLength
                }
            }
            blocks.append(i1..<i2)
            i1 = i2
        }
        return blocks
    }
}

/// Buffers a solve writes.
struct SolveOutput {
    var codes: [Int8]
    var scales: [Float]
    var zeros: [Float]
    var losses: [Double]

    init(rows: Int, columns: Int, groups: Int) {
        codes = [Int8](repeating: 0, count: rows * columns)
        scales = [Float](repeating: 0, count: rows * groups)
        zeros = [Float](repeating: 0, count: rows * groups)
        losses = [Double](repeating: 0, count: rows)
    }

    /// The buffers' base addresses, for tiles that write disjoint rows from several threads.
    mutating func withPointers<R>(_ body: (SolvePointers) -> R) -> R {
        codes.withUnsafeMutableBufferPointer { codes in
            scales.withUnsafeMutableBufferPointer { scales in
                zeros.withUnsafeMutableBufferPointer { zeros in
                    losses.withUnsafeMutableBufferPointer { losses in
                        body(SolvePointers(codes: codes.baseAddress!, scales: scales.baseAddress!, zeros: zeros.baseAddress!, losses: losses.baseAddress!))
                    }
                }
            }
        }
    }
}

/// `SolveOutput`'s buffers; each tile writes only its own rows.
struct SolvePointers: @unchecked Sendable {
    let codes: UnsafeMutablePointer<Int8>
    let scales: UnsafeMutablePointer<Float>
    let zeros: UnsafeMutablePointer<Float>
    let losses: UnsafeMutablePointer<Double>
}
