#if canImport(Glibc)
import Glibc
#endif

/// AWQ, activation-aware weight quantization (Lin et al. 2023), the parts that are pure math:
/// per-channel scale candidates, candidate weights, the clip search. The search itself (which
/// candidate loses least on the calibration samples) is distributed: workers evaluate candidates
/// on their samples, the coordinator adds the losses (see CoordinatorCore).
///
///   x̄_j   mean |x_j| over the calibration tokens of the group's input (ActivationStatistics.meanAbs)
///   w̄_j   mean over the rows of the group's stacked weights of |W_ij| / max_{j' ∈ group(j)} |W_ij'|
///         (each (row, quantization group) normalized by its largest magnitude)
///   s(α)  x̄^α / (w̄^(1−α) + 10⁻⁴), clamped below at 10⁻⁴ ("duo" scaling; x̄^α alone otherwise),
///         then divided by √(max s · min s)
///   W'    Q(W·diag(s))·diag(s)⁻¹: what the scaled, quantized linear computes on the unscaled input
/// Ratios α = i/n for i = 0 … n−1 (n_grid = 20 by default). All in Float, as AutoAWQ computes
/// (it works in half precision; the float32 formulas are the same).
public enum AWQ {
    /// The grid of ratios α: i/n for i in 0..<n.
    public static func ratios(grid: Int) -> [Float] { (0..<grid).map { Float($0) / Float(grid) } }

    /// w̄: per input column, the mean over the rows of all `weights` (stacked, same width) of |W|
    /// divided by its (row, group) maximum.
    /// - Parameter groupLength: input columns per quantization group (K for per-channel).
    public static func weightMean(_ weights: [Matrix], groupLength: Int) -> [Float] {
        guard let k = weights.first?.columns else { return [] }
        precondition(weights.allSatisfy { $0.columns == k } && k % groupLength == 0, "AWQ.weightMean: widths must agree and be whole groups")
        var sum = [Double](repeating: 0, count: k)
        var rows = 0
        for w in weights {
            w.values.withUnsafeBufferPointer { values in
                for r in 0..<w.rows {
                    for g in stride(from: 0, to: k, by: groupLength) {
                        var largest: Float = 0
                        for j in g..<(g + groupLength) { largest = max(largest, abs(values[r * k + j])) }
                        let denominator = largest + 1e-6
                        for j in g..<(g + groupLength) { sum[j] += Double(abs(values[r * k + j]) / denominator) }
                    }
                }
            }
            rows += w.rows
        }
        return sum.map { Float($0 / Double(max(rows, 1))) }
    }

    /// The scales s(α) for one ratio.
    /// - Parameters:
    ///   - activationMean: x̄ per input channel.
    ///   - weightMean: w̄ per input channel for duo scaling, or nil for x̄^α alone.
    public static func scales(activationMean: [Float], weightMean: [Float]?, ratio: Float) -> [Float] {
        var s = activationMean.indices.map { j -> Float in
            let numerator = powf(activationMean[j], ratio)
            let raw = weightMean.map { numerator / (powf($0[j], 1 - ratio) + 1e-4) } ?? numerator
            return max(raw, 1e-4)
        }
        let normalizer = (s.max()! * s.min()!).squareRoot()
        for j in s.indices { s[j] /= normalizer }
        return s
    }

    /// W·diag(s): each column j multiplied by s_j (folding the scales into a linear's input side).
    public static func scaledColumns(_ w: Matrix, _ s: [Float]) -> Matrix {
        precondition(s.count == w.columns, "AWQ.scaledColumns: \(s.count) scales for \(w.columns) columns")
        var result = w
        result.values.withUnsafeMutableBufferPointer { values in
            for r in 0..<w.rows { for j in 0..<w.columns { values[r * w.columns + j] *= s[j] } }
        }
        return result
    }

    /// diag(1/s)·W: each row i divided by s_i (folding scales into the previous op's outputs).
    public static func dividedRows(_ w: Matrix, _ s: [Float]) -> Matrix {
        precondition(s.count == w.rows, "AWQ.dividedRows: \(s.count) scales for \(w.rows) rows")
        var result = w
        result.values.withUnsafeMutableBufferPointer { values in
            for r in 0..<w.rows { for j in 0..<w.columns { values[r * w.columns + j] /= s[r] } }
        }
        return result
    }

    /// A candidate's effective weights Q(W·diag(s))·diag(1/s), quantized by round-to-nearest.
    public static func candidate(_ w: Matrix, scales s: [Float], scheme: QuantizationScheme) throws(KernelError) -> Matrix {
        let quantized = try RoundToNearest.quantize(scaledColumns(w, s), scheme: scheme).dequantized()
        var result = quantized
        result.values.withUnsafeMutableBufferPointer { values in
            for r in 0..<w.rows { for j in 0..<w.columns { values[r * w.columns + j] /= s[j] } }
        }
        return result
    }

    /// The squared output error Σ_t ‖x_t·(C − W)ᵀ‖² of replacing `original` by `candidate`, from
    /// the inputs' XᵀX alone: tr(E·XᵀX·Eᵀ) with E = C − W (one dgemm).
    /// - Parameter gram: XᵀX, K×K row-major.
    public static func outputError(_ candidate: Matrix, _ original: Matrix, gram: [Double]) -> Double {
        let (n, k) = (original.rows, original.columns)
        precondition(candidate.rows == n && candidate.columns == k && gram.count == k * k, "AWQ.outputError: shapes do not agree")
        let error = zip(candidate.values, original.values).map { Double($0 - $1) }
        var product = [Double](repeating: 0, count: n * k)
        BLAS.dgemm(m: n, n: k, k: k, a: error, lda: k, b: gram, ldb: k, c: &product, ldc: k)
        var total = 0.0
        for index in 0..<(n * k) { total += error[index] * product[index] }
        return total
    }

    /// Rows per summand of `outputErrorSum`.
    public static let errorRowTile = 64

    /// `outputError` as an exact fixed-point sum over tiles of `errorRowTile` rows: each tile's
    /// Double error (one dgemm) becomes one `FixedPointSum` summand. Tiles lie on the grid of the
    /// whole matrix (`firstRow` is where `candidate` and `original` start in it, a multiple of the
    /// tile), so the rows can be split among workers along that grid and the parts add up to the
    /// same total for any split.
    /// - Parameter gram: XᵀX, K×K row-major.
    public static func outputErrorSum(_ candidate: Matrix, _ original: Matrix, gram: UnsafeBufferPointer<Double>, firstRow: Int) -> Int128 {
        let (n, k) = (original.rows, original.columns)
        precondition(candidate.rows == n && candidate.columns == k && gram.count == k * k, "AWQ.outputErrorSum: shapes do not agree")
        precondition(firstRow % errorRowTile == 0, "AWQ.outputErrorSum: row \(firstRow) is not on the tile grid")
        var error = [Double](repeating: 0, count: min(n, errorRowTile) * k)
        var product = error
        var total: Int128 = 0
        for tileStart in stride(from: 0, to: n, by: errorRowTile) {
            let rows = min(errorRowTile, n - tileStart)
            let count = rows * k
            for index in 0..<count {
                error[index] = Double(candidate.values[tileStart * k + index] - original.values[tileStart * k + index])
            }
            BLAS.dgemm(m: rows, n: k, k: k, a: error, lda: k, b: gram.baseAddress!, ldb: k, c: &product, ldc: k)
            var loss = 0.0
            for index in 0..<count { loss += error[index] * product[index] }
            total &+= FixedPointSum.fixed(loss)
        }
        return total
    }

    /// `outputError` measured on the inputs themselves: Σ_t ‖x_t·(C − W)ᵀ‖² with one Float product
    /// per range of input rows, each range's Double sum one `FixedPointSum` summand. Costs
    /// 2·T·N·K for T input rows instead of the 2·N·K² of the XᵀX form, the cheaper one while
    /// T < K or so. The ranges are the summands: a worker gives its sample sequences, so that the
    /// products and parts are the same however the samples are split among workers.
    /// - Parameters:
    ///   - inputs: T×K row-major, the linear's input rows.
    ///   - ranges: row ranges of `inputs`, each one summand.
    public static func outputErrorSum(_ candidate: Matrix, _ original: Matrix, inputs: UnsafePointer<Float>, ranges: [Range<Int>]) -> Int128 {
        let (n, k) = (original.rows, original.columns)
        precondition(candidate.rows == n && candidate.columns == k, "AWQ.outputErrorSum: shapes do not agree")
        let error = [Float](unsafeUninitializedCapacity: n * k) { buffer, count in
            for index in 0..<(n * k) { buffer[index] = candidate.values[index] - original.values[index] }
            count = n * k
        }
        var product = [Float](repeating: 0, count: (ranges.map(\.count).max() ?? 0) * n)
        var total: Int128 = 0
        for range in ranges where !range.isEmpty {
            BLAS.sgemm(transposeB: true, m: range.count, n: n, k: k, a: inputs + range.lowerBound * k, lda: k, b: error, ldb: k,
                       c: &product, ldc: n)
            var loss = 0.0
            for index in 0..<(range.count * n) { loss += Double(product[index]) * Double(product[index]) }
            total &+= FixedPointSum.fixed(loss)
        }
        return total
    }

    /// AWQ's clip search: for every (row, group), the clamp ±shrink·max|w| (shrink = 1 − i/grid,
    /// i < maxShrink·grid) whose quantized group minimizes the group's output error on the
    /// calibration inputs, eᵀ G_gg e with e = w − Q(clamp(w)) and G = XᵀX (exact over every token,
    /// where AutoAWQ samples 512); returns W clamped at the chosen bounds.
    /// - Parameters:
    ///   - w: N×K weights (already scaled, as they will be quantized).
    ///   - gram: XᵀX of the inputs these weights see, K×K row-major (already divided by the scales).
    /// - Returns: the clipped weights and each (row, group)'s chosen shrink.
    public static func clip(_ w: Matrix, gram: [Double], scheme: QuantizationScheme, grid: Int = 20, maxShrink: Double = 0.5) throws(KernelError) -> (Matrix, [Float]) {
        let (n, k) = (w.rows, w.columns)
        guard gram.count == k * k else { throw KernelError(.invalidArgument, "AWQ clip: XᵀX has \(gram.count) entries for width \(k)") }
        let length = try scheme.groupLength(columns: k)
        let groups = k / length
        let candidates = max(1, Int((maxShrink * Double(grid)).rounded(.down)))
        let (codeMin, codeMax) = (Float(scheme.codeMin), Float(scheme.codeMax))
        var clipped = w
        var chosen = [Float](repeating: 1, count: n * groups)
        var buffer = [Float](repeating: 0, count: length)
        var error = [Double](repeating: 0, count: length)
        for r in 0..<n {
            for g in 0..<groups {
                let start = r * k + g * length
                let original = Array(w.values[start..<(start + length)])
                let largest = original.map(abs).max()!
                var best = (error: Double.infinity, shrink: Float(1))
                for i in 0..<candidates {
                    let shrink = Float(1 - Double(i) / Double(grid))
                    let bound = largest * shrink
                    for j in 0..<length { buffer[j] = min(max(original[j], -bound), bound) }
                    let parameters = buffer.withUnsafeBufferPointer {
                        QuantizationGrid.fit($0.baseAddress!, count: length, weights: nil, scheme: scheme, clipping: nil)
                    }
                    for j in 0..<length {
                        error[j] = Double(original[j]) - Double(parameters.dequantized(parameters.code(buffer[j], codeMin: codeMin, codeMax: codeMax)))
                    }
                    // eᵀ G_gg e over the group's block of XᵀX.
                    var total = 0.0
                    for a in 0..<length {
                        let row = (g * length + a) * k + g * length
                        var inner = 0.0
                        for b in 0..<length { inner += gram[row + b] * error[b] }
                        total += error[a] * inner
                    }
                    if total < best.error { best = (total, shrink) }
                }
                chosen[r * groups + g] = best.shrink
                let bound = largest * best.shrink
                for j in 0..<length { clipped.values[start + j] = min(max(original[j], -bound), bound) }
            }
        }
        return (clipped, chosen)
    }
}
