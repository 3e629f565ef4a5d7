/// Statistics of the inputs of one linear layer (or of several that share an input, like q/k/v),
/// kept as sums plus a count so that partials from any number of workers merge exactly.
///
///   K            the input width (`columns`)
///   n            tokens seen (`tokenCount`)
///   XᵀX          Σ_t x_t x_tᵀ, upper triangle packed row-major (`gramSums`): row i holds
///                columns i..<K starting at offset i·K − i·(i−1)/2
///   absMax       max_t |x_t,k|, Float (exact: a max of Floats)
///   sumAbs       Σ_t |x_t,k|
///   sumSquares   Σ_t x_t,k² (XᵀX's diagonal, from the same products)
/// The three sums are exact fixed-point integers (`FixedPointSum`, units of 2⁻⁴⁸); `gramUpper`,
/// `sumAbs` and `sumSquares` give them as Doubles.
///
/// Accumulation: each batch's XᵀX is computed in Float through BLAS, one column panel at a time
/// (`sgemm` for the rectangle above the diagonal block, `ssyrk` for the block), and each panel is
/// added into the sum at once; a batch's per-channel sums are float64 over its tokens. Why not
/// `dsyrk`: it runs at half sgemm's rate and needs a float64 copy of X; the Float products of one
/// batch carry a relative error of about √rows · 2⁻²⁴ (≈3·10⁻⁶ for 2048 tokens), far below the
/// sampling noise of a Hessian. Why panels: the Float buffer is K × panelWidth instead of K × K
/// (58 MB rather than 3.3 GB for K = 28672).
///
/// Merging: integer addition (max for absMax), which is exact and associative. A batch's
/// contribution depends only on the batch, so statistics of any split of the same batches over
/// shards, merged in any order, equal one pass **bit for bit**. The price is 16 bytes per XᵀX
/// entry instead of 8 (6.6 GB for K = 28672).
public struct ActivationStatistics: Sendable, Equatable {
    public let columns: Int
    public private(set) var tokenCount: Int
    /// XᵀX, upper triangle packed, in units of 2⁻⁴⁸.
    public private(set) var gramSums: [Int128]
    public private(set) var absMax: [Float]
    /// Σ|x| and Σx² per channel, in units of 2⁻⁴⁸.
    public private(set) var absSums: [Int128]
    public private(set) var squareSums: [Int128]

    /// XᵀX, upper triangle packed, as Doubles.
    public var gramUpper: [Double] { gramSums.map(FixedPointSum.double) }
    /// Σ_t |x_t,k| per channel.
    public var sumAbs: [Double] { absSums.map(FixedPointSum.double) }
    /// Σ_t x_t,k² per channel.
    public var sumSquares: [Double] { squareSums.map(FixedPointSum.double) }

    /// Columns of X per panel of the batched XᵀX product.
    public static let panelWidth = 512

    /// Empty statistics for inputs of width `columns`.
    public init(columns: Int) {
        precondition(columns > 0, "ActivationStatistics: width must be positive, found \(columns)")
        self.init(columns: columns, tokenCount: 0, gramSums: [Int128](repeating: 0, count: columns * (columns + 1) / 2),
                  absMax: [Float](repeating: 0, count: columns), absSums: [Int128](repeating: 0, count: columns),
                  squareSums: [Int128](repeating: 0, count: columns))
    }

    init(columns: Int, tokenCount: Int, gramSums: [Int128], absMax: [Float], absSums: [Int128], squareSums: [Int128]) {
        self.columns = columns
        self.tokenCount = tokenCount
        self.gramSums = gramSums
        self.absMax = absMax
        self.absSums = absSums
        self.squareSums = squareSums
    }

    /// Where row i of the packed upper triangle starts.
    @inlinable
    public static func packedRowStart(_ i: Int, columns: Int) -> Int { i * columns - i * (i - 1) / 2 }

    /// Adds a batch of `rows` tokens, `x` row-major rows × K.
    /// - Parameters:
    ///   - layer, module: named in the error when the batch holds NaN or ±Inf.
    /// - Throws: `KernelError.nonFinite` naming layer, module, token row and channel; the statistics
    ///   are unchanged then. `.invalidArgument` when `x.count != rows · K`; `.unrepresentable` when
    ///   a channel's sum of squares over the batch reaches 2⁶⁴ (see `FixedPointSum`).
    public mutating func accumulate(_ x: UnsafeBufferPointer<Float>, rows: Int, layer: Int, module: String) throws(KernelError) {
        let k = columns
        guard rows >= 0, x.count == rows * k else {
            throw KernelError(.invalidArgument, "layer \(layer) \(module): a batch of \(x.count) values is not \(rows) tokens × \(k) channels")
        }
        guard rows > 0, let base = x.baseAddress else { return }
        // Per-channel maxima and |x| sums of the batch (Σx² is XᵀX's diagonal, taken from the
        // products below). A NaN or ±Inf makes its channel's |x| sum non-finite, which one check
        // per channel finds without a branch in the loop.
        var batchMax = [Float](repeating: 0, count: k)
        var batchAbs = [Double](repeating: 0, count: k)
        batchMax.withUnsafeMutableBufferPointer { m in
            batchAbs.withUnsafeMutableBufferPointer { a in
                for r in 0..<rows {
                    let row = base + r * k
                    for c in 0..<k {
                        let v = abs(row[c])
                        m[c] = max(m[c], v)
                        a[c] += Double(v)
                    }
                }
            }
        }
        if let channel = batchAbs.firstIndex(where: { !$0.isFinite }) {
            let row = (0..<rows).first { !x[$0 * k + channel].isFinite } ?? 0
            throw KernelError(.nonFinite, "layer \(layer) \(module): input token \(row), channel \(channel) of a \(rows)×\(k) batch is \(x[row * k + channel])")
        }
        // Every XᵀX entry of the batch is at most rows · max|x|² (Cauchy–Schwarz), which bounds
        // every summand of `accumulateGram`.
        if let channel = batchMax.firstIndex(where: { !FixedPointSum.isRepresentable(Double(rows) * Double($0) * Double($0)) }) {
            throw KernelError(.unrepresentable, "layer \(layer) \(module): channel \(channel) reaches |x| = \(batchMax[channel]) in a \(rows)-token batch; its squares could pass the statistics' range of 2⁶⁴ per batch")
        }
        accumulateGram(base, rows: rows)
        for c in 0..<k {
            absMax[c] = max(absMax[c], batchMax[c])
            absSums[c] &+= FixedPointSum.fixed(batchAbs[c])
        }
        tokenCount += rows
    }

    /// `accumulate` for an array.
    public mutating func accumulate(_ x: [Float], rows: Int, layer: Int, module: String) throws(KernelError) {
        try x.withUnsafeBufferPointer { (buffer) throws(KernelError) in try accumulate(buffer, rows: rows, layer: layer, module: module) }
    }

    /// Adds XᵀX of the batch, panel by panel: for columns c0..<c1, the rectangle rows 0..<c0 by sgemm
    /// and the diagonal block by ssyrk (upper triangle), then the upper part into the fixed-point sum.
    private mutating func accumulateGram(_ x: UnsafePointer<Float>, rows: Int) {
        let k = columns
        // Up to 2048 columns one product covers everything (a K×K buffer of at most 16 MB): small
        // products split further run well below the BLAS peak.
        let width = k <= 2048 ? k : Self.panelWidth
        var panel = [Float](repeating: 0, count: k * width)
        panel.withUnsafeMutableBufferPointer { p in
            gramSums.withUnsafeMutableBufferPointer { gram in
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
                        for j in first..<c1 { target[j] &+= FixedPointSum.fixed(source[j]) }
                        if i >= c0 { squareSums[i] &+= FixedPointSum.fixed(source[i]) }  // the diagonal: Σx²
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
        let (tokens, overflow) = tokenCount.addingReportingOverflow(other.tokenCount)
        guard !overflow else {
            throw KernelError(.invalidArgument, "statistics merge: \(tokenCount) + \(other.tokenCount) tokens overflow")
        }
        tokenCount = tokens
        gramSums.withUnsafeMutableBufferPointer { sums in
            other.gramSums.withUnsafeBufferPointer { more in
                for i in 0..<sums.count { sums[i] &+= more[i] }
            }
        }
        for c in 0..<columns {
            absMax[c] = max(absMax[c], other.absMax[c])
            absSums[c] &+= other.absSums[c]
            squareSums[c] &+= other.squareSums[c]
        }
    }

    /// The merge of `parts` (the same bits in any order; callers order them by shard index).
    /// - Throws: `KernelError.invalidArgument` for no parts or differing widths.
    public static func merged(_ parts: [ActivationStatistics]) throws(KernelError) -> ActivationStatistics {
        guard var result = parts.first else { throw KernelError(.invalidArgument, "statistics merge: no parts") }
        for part in parts.dropFirst() { try result.merge(part) }
        return result
    }

    /// XᵀX as a full symmetric K×K float64 matrix, row-major.
    public func gram() -> [Double] {
        [Double](unsafeUninitializedCapacity: columns * columns) { buffer, initialized in
            fillGram(buffer)
            initialized = columns * columns
        }
    }

    /// XᵀX, K×K row-major, written into `full` (K² Doubles).
    public func fillGram(_ full: UnsafeMutableBufferPointer<Double>) {
        let k = columns
        precondition(full.count == k * k, "fillGram: \(full.count) slots for a \(k)×\(k) matrix")
        for i in 0..<k {
            let start = Self.packedRowStart(i, columns: k) - i
            for j in i..<k {
                let value = FixedPointSum.double(gramSums[start + j])
                full[i * k + j] = value
                full[j * k + i] = value
            }
        }
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
        return (0..<columns).map { Float(FixedPointSum.double(gramSums[Self.packedRowStart($0, columns: columns)]) * factor) }
    }

    /// Per-channel mean |x| (what AWQ scales by).
    public var meanAbs: [Float] { absSums.map { Float(FixedPointSum.double($0) / Double(max(tokenCount, 1))) } }
}
