/// Statistics of the inputs of one linear layer (or of several that share an input, like q/k/v),
/// kept as sums plus a count so that partials from any number of workers merge exactly.
///
///   K            the input width (`columns`)
///   n            tokens seen (`tokenCount`)
///   XᵀX          Σ_t x_t x_tᵀ, float64, upper triangle packed row-major (`gramUpper`): row i holds
///                columns i..<K starting at offset i·K − i·(i−1)/2
///   absMax       max_t |x_t,k|, Float (exact: a max of Floats)
///   sumAbs       Σ_t |x_t,k|, float64
///   sumSquares   Σ_t x_t,k², float64 (each square of a Float is exact in float64)
///
/// Accumulation: each batch's XᵀX is computed in Float through BLAS, one column panel at a time
/// (`sgemm` for the rectangle above the diagonal block, `ssyrk` for the block), and each panel is
/// added into the float64 sum at once. Why not `dsyrk`: it runs at half sgemm's rate and needs a
/// float64 copy of X; the Float products of one batch carry a relative error of about
/// √rows · 2⁻²⁴ (≈3·10⁻⁶ for 2048 tokens), far below the sampling noise of a Hessian, while the
/// sum across batches — where millions of tokens accumulate — is float64. Why panels: the Float
/// buffer is K × panelWidth instead of K × K (58 MB rather than 3.3 GB for K = 28672).
///
/// Merging: element-wise addition (max for absMax). A batch's contribution depends only on the
/// batch, so statistics of shards that split the batches differently from one pass agree with it
/// to float64 rounding (≈10⁻¹⁶ relative per addition); merge in a fixed order (by shard index) and
/// the result is reproducible bit for bit.
public struct ActivationStatistics: Sendable, Equatable {
    public let columns: Int
    public private(set) var tokenCount: Int
    public private(set) var gramUpper: [Double]
    public private(set) var absMax: [Float]
    public private(set) var sumAbs: [Double]
    public private(set) var sumSquares: [Double]

    /// Columns of X per panel of the batched XᵀX product.
    public static let panelWidth = 512

    /// Empty statistics for inputs of width `columns`.
    public init(columns: Int) {
        precondition(columns > 0, "ActivationStatistics: width must be positive, found \(columns)")
        self.init(columns: columns, tokenCount: 0, gramUpper: [Double](repeating: 0, count: columns * (columns + 1) / 2),
                  absMax: [Float](repeating: 0, count: columns), sumAbs: [Double](repeating: 0, count: columns),
                  sumSquares: [Double](repeating: 0, count: columns))
    }

    init(columns: Int, tokenCount: Int, gramUpper: [Double], absMax: [Float], sumAbs: [Double], sumSquares: [Double]) {
        self.columns = columns
        self.tokenCount = tokenCount
        self.gramUpper = gramUpper
        self.absMax = absMax
        self.sumAbs = sumAbs
        self.sumSquares = sumSquares
    }

    /// Where row i of the packed upper triangle starts.
    @inlinable
    public static func packedRowStart(_ i: Int, columns: Int) -> Int { i * columns - i * (i - 1) / 2 }

    /// Adds a batch of `rows` tokens, `x` row-major rows × K.
    /// - Parameters:
    ///   - layer, module: named in the error when the batch holds NaN or ±Inf.
    /// - Throws: `KernelError.nonFinite` naming layer, module, token row and channel; the statistics
    ///   are unchanged then. `.invalidArgument` when `x.count != rows · K`.
    public mutating func accumulate(_ x: UnsafeBufferPointer<Float>, rows: Int, layer: Int, module: String) throws(KernelError) {
        let k = columns
        guard rows >= 0, x.count == rows * k else {
            throw KernelError(.invalidArgument, "layer \(layer) \(module): a batch of \(x.count) values is not \(rows) tokens × \(k) channels")
        }
        guard rows > 0, let base = x.baseAddress else { return }
        // Per-channel sums of the batch; `poison` turns NaN and ±Inf into NaN (x · 0), so one check
        // per channel finds them without a branch in the loop.
        var batchMax = [Float](repeating: 0, count: k)
        var batchAbs = [Double](repeating: 0, count: k)
        var batchSquares = [Double](repeating: 0, count: k)
        var poison = [Float](repeating: 0, count: k)
        batchMax.withUnsafeMutableBufferPointer { m in
            batchAbs.withUnsafeMutableBufferPointer { a in
                batchSquares.withUnsafeMutableBufferPointer { s in
                    poison.withUnsafeMutableBufferPointer { p in
                        for r in 0..<rows {
                            let row = base + r * k
                            for c in 0..<k {
                                let v = row[c]
                                m[c] = max(m[c], abs(v))
                                a[c] += Double(abs(v))
                                s[c] += Double(v) * Double(v)
                                p[c] += v * 0
                            }
                        }
                    }
                }
            }
        }
        if let channel = poison.firstIndex(where: { !$0.isFinite }) {
            let row = (0..<rows).first { !x[$0 * k + channel].isFinite } ?? 0
            throw KernelError(.nonFinite, "layer \(layer) \(module): input token \(row), channel \(channel) of a \(rows)×\(k) batch is \(x[row * k + channel])")
        }
        accumulateGram(base, rows: rows)
        for c in 0..<k {
            absMax[c] = max(absMax[c], batchMax[c])
            sumAbs[c] += batchAbs[c]
            sumSquares[c] += batchSquares[c]
        }
        tokenCount += rows
    }

    /// `accumulate` for an array.
    public mutating func accumulate(_ x: [Float], rows: Int, layer: Int, module: String) throws(KernelError) {
        try x.withUnsafeBufferPointer { (buffer) throws(KernelError) in try accumulate(buffer, rows: rows, layer: layer, module: module) }
    }

    /// Adds XᵀX of the batch, panel by panel: for columns c0..<c1, the rectangle rows 0..<c0 by sgemm
    /// and the diagonal block by ssyrk (upper triangle), then the upper part into the float64 sum.
    private mutating func accumulateGram(_ x: UnsafePointer<Float>, rows: Int) {
        let k = columns
        let width = min(Self.panelWidth, k)
        var panel = [Float](repeating: 0, count: k * width)
        panel.withUnsafeMutableBufferPointer { p in
            gramUpper.withUnsafeMutableBufferPointer { gram in
                for c0 in stride(from: 0, to: k, by: width) {
                    let c1 = min(c0 + width, k), w = c1 - c0
                    // panel[i, j − c0] = Σ_t x[t, i] · x[t, j] for i < c0 (rectangle), c0 ≤ i ≤ j (block).
                    BLAS.sgemm(transposeA: true, m: c0, n: w, k: rows, a: x, lda: k, b: x + c0, ldb: k,
                               c: p.baseAddress!, ldc: w)
                    BLAS.ssyrkTransposed(n: w, rows: rows, a: x + c0, lda: k, beta: 0, c: p.baseAddress! + c0 * w, ldc: w)
                    for i in 0..<c1 {
                        let first = max(i, c0)
                        let target = gram.baseAddress! + Self.packedRowStart(i, columns: k) - i
                        let source = p.baseAddress! + i * w - c0
                        for j in first..<c1 { target[j] += Double(source[j]) }
                    }
                }
            }
        }
    }

    /// Adds `other` (statistics of other tokens of the same input) into these.
    /// - Throws: `KernelError.invalidArgument` when the widths differ.
    public mutating func merge(_ other: ActivationStatistics) throws(KernelError) {
        guard other.columns == columns else {
            throw KernelError(.invalidArgument, "statistics merge: width \(other.columns) into width \(columns)")
        }
        tokenCount += other.tokenCount
        for i in 0..<gramUpper.count { gramUpper[i] += other.gramUpper[i] }
        for c in 0..<columns {
            absMax[c] = max(absMax[c], other.absMax[c])
            sumAbs[c] += other.sumAbs[c]
            sumSquares[c] += other.sumSquares[c]
        }
    }

    /// The merge of `parts` in their order (callers order them by shard index).
    /// - Throws: `KernelError.invalidArgument` for no parts or differing widths.
    public static func merged(_ parts: [ActivationStatistics]) throws(KernelError) -> ActivationStatistics {
        guard var result = parts.first else { throw KernelError(.invalidArgument, "statistics merge: no parts") }
        for part in parts.dropFirst() { try result.merge(part) }
        return result
    }

    /// XᵀX as a full symmetric K×K float64 matrix, row-major.
    public func gram() -> [Double] {
        let k = columns
        var full = [Double](repeating: 0, count: k * k)
        for i in 0..<k {
            let start = Self.packedRowStart(i, columns: k) - i
            for j in i..<k {
                full[i * k + j] = gramUpper[start + j]
                full[j * k + i] = gramUpper[start + j]
            }
        }
        return full
    }

    /// GPTQ's Hessian H = 2·XᵀX / n as a full symmetric K×K Float matrix, row-major.
    /// - Throws: `KernelError.invalidArgument` when no tokens were seen.
    public func hessian() throws(KernelError) -> [Float] {
        guard tokenCount > 0 else { throw KernelError(.invalidArgument, "statistics: no tokens seen, so no Hessian") }
        let factor = 2 / Double(tokenCount)
        return gram().map { Float($0 * factor) }
    }

    /// The diagonal of H = 2·XᵀX / n.
    public func hessianDiagonal() throws(KernelError) -> [Float] {
        guard tokenCount > 0 else { throw KernelError(.invalidArgument, "statistics: no tokens seen, so no Hessian") }
        let factor = 2 / Double(tokenCount)
        return (0..<columns).map { Float(gramUpper[Self.packedRowStart($0, columns: columns)] * factor) }
    }

    /// Per-channel mean |x| (what AWQ scales by).
    public var meanAbs: [Float] { sumAbs.map { Float($0 / Double(max(tokenCount, 1))) } }
}
