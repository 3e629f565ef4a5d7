/// Options of GPTQ's shared preparation: everything that depends on H alone.
public struct GPTQFactorOptions: Sendable, Hashable {
    /// Damping λ = dampingPercent · mean(diag H) added to diag H (GPTQ's `percdamp`, 0.01).
    public var dampingPercent: Double
    /// Process columns in order of decreasing diag H (GPTQ's `act_order` / `desc_act`).
    public var activationOrder: Bool
    /// When the Cholesky factorization fails, retry with dampingPercent · growth^r, r = 1…maxRetries
    /// (starting from 0.01 when dampingPercent is 0).
    public var maxDampingRetries: Int
    public var dampingGrowth: Double
    /// Arithmetic of the factorization. `.float32` is what the GPTQ references do and twice as fast;
    /// `.float64` gives a factor correct to Float rounding even for ill-conditioned H.
    public var precision: FactorPrecision

    public init(dampingPercent: Double = 0.01, activationOrder: Bool = false, maxDampingRetries: Int = 3,
                dampingGrowth: Double = 10, precision: FactorPrecision = .float32) {
        self.dampingPercent = dampingPercent
        self.activationOrder = activationOrder
        self.maxDampingRetries = maxDampingRetries
        self.dampingGrowth = dampingGrowth
        self.precision = precision
    }
}

/// The arithmetic of GPTQ's factorization.
public enum FactorPrecision: String, Sendable, Hashable { case float32, float64 }

/// What GPTQ needs from H, computed once per distinct input (at the coordinator) and shared by
/// every solve of every weight matrix that reads that input, whole or by rows.
///
/// Processing order: column j of the solve is original column `permutation[j]` (identity without
/// act-order). In that order, with H_p = P H Pᵀ, dead columns' diagonal set to 1, and
/// λ = dampingPercent · mean(diag H_p):
///   `inverseFactor` U is upper triangular with UᵀU = (H_p + λI)⁻¹, row-major K×K, zero below
///   the diagonal (GPTQ's `Hinv`).
///
/// How U is computed (half the work of potrf → potri → potrf): with J the order reversal,
/// J (H_p + λI) J = L Lᵀ (Cholesky, lower), so H_p + λI = V Vᵀ with V = J L J upper triangular,
/// and (H_p + λI)⁻¹ = V⁻ᵀ V⁻¹ = UᵀU with U = V⁻¹ = J L⁻¹ J. Reversing a row-major square array
/// end to end is exactly X ↦ J X J, so: fill the reversed matrix, Cholesky (lower) and triangular
/// inverse (lower) — `BlockedCholesky`, the same bits for any thread count — then reverse back.
/// Cost n³/3 + n³/3 flops instead of 4n³/3; U is the same matrix (the Cholesky factor is unique),
/// which the tests check against the textbook route.
public struct GPTQFactor: Sendable, Equatable {
    /// K, the input width.
    public let columns: Int
    /// Processing position → original column.
    public let permutation: [Int32]
    /// Original columns with diag H = 0 (inputs that were always zero); their weights are zeroed.
    public let deadColumns: [Int32]
    /// diag H in processing order (dead columns 1, no damping): weights of the clipping search.
    public let hessianDiagonal: [Float]
    /// U, K×K row-major, upper triangular.
    public let inverseFactor: [Float]
    /// The damping percent that succeeded (the requested one unless retries were needed).
    public let dampingPercent: Double
    /// λ added to the diagonal.
    public let damping: Double
    /// How many times the factorization failed and was retried at larger damping.
    public let dampingRetries: Int
    /// Tokens behind H.
    public let tokenCount: Int

    /// A factor from its parts, checking sizes and that `permutation` is a permutation, the dead
    /// columns valid, and U upper triangular with a positive diagonal.
    /// - Throws: `KernelError.invalidArgument` naming the part that does not fit.
    public init(columns: Int, permutation: [Int32], deadColumns: [Int32], hessianDiagonal: [Float], inverseFactor: [Float],
                dampingPercent: Double, damping: Double, dampingRetries: Int, tokenCount: Int) throws(KernelError) {
        func check(_ ok: Bool, _ what: @autoclosure () -> String) throws(KernelError) {
            if !ok { throw KernelError(.invalidArgument, "GPTQ factor (K = \(columns)): \(what())") }
        }
        try check(columns > 0, "no columns")
        try check(permutation.count == columns, "permutation has \(permutation.count) entries")
        var seen = [Bool](repeating: false, count: columns)
        for p in permutation {
            try check(p >= 0 && Int(p) < columns && !seen[Int(p)], "the column order is not a permutation of 0..<\(columns)")
            seen[Int(p)] = true
        }
        try check(deadColumns.allSatisfy { $0 >= 0 && Int($0) < columns }, "a dead column lies outside 0..<\(columns)")
        try check(hessianDiagonal.count == columns && hessianDiagonal.allSatisfy { $0.isFinite && $0 >= 0 }, "diag H has \(hessianDiagonal.count) entries or a negative or non-finite one")
        try check(inverseFactor.count == columns * columns, "U has \(inverseFactor.count) entries, expected \(columns * columns)")
        for i in 0..<columns {
            let d = inverseFactor[i * columns + i]
            try check(d.isFinite && d > 0, "U[\(i), \(i)] = \(d), expected finite and positive")
            for j in 0..<i where inverseFactor[i * columns + j] != 0 {
                throw KernelError(.invalidArgument, "GPTQ factor (K = \(columns)): U[\(i), \(j)] = \(inverseFactor[i * columns + j]) below the diagonal")
            }
        }
        try check(dampingRetries >= 0 && tokenCount > 0 && damping.isFinite && damping >= 0, "damping \(damping), retries \(dampingRetries), tokens \(tokenCount)")
        self.init(unchecked: columns, permutation: permutation, deadColumns: deadColumns, hessianDiagonal: hessianDiagonal,
                  inverseFactor: inverseFactor, dampingPercent: dampingPercent, damping: damping, dampingRetries: dampingRetries,
                  tokenCount: tokenCount)
    }

    init(unchecked columns: Int, permutation: [Int32], deadColumns: [Int32], hessianDiagonal: [Float], inverseFactor: [Float],
         dampingPercent: Double, damping: Double, dampingRetries: Int, tokenCount: Int) {
        self.columns = columns
        self.permutation = permutation
        self.deadColumns = deadColumns
        self.hessianDiagonal = hessianDiagonal
        self.inverseFactor = inverseFactor
        self.dampingPercent = dampingPercent
        self.damping = damping
        self.dampingRetries = dampingRetries
        self.tokenCount = tokenCount
    }

    /// Whether the columns are processed in another order than their own (act-order).
    public var isPermuted: Bool { permutation.indices.contains { Int(permutation[$0]) != $0 } }
}

extension GPTQ {
    /// Prepares the shared factor of H = 2·XᵀX/n from merged statistics (GPTQ's preamble, before
    /// its column loop): dead inputs, act-order permutation, damping, and U.
    /// - Parameters:
    ///   - statistics: the merged statistics of the layer's input.
    ///   - name: the layer and module, for error messages.
    /// - Throws: `KernelError.invalidArgument` for statistics without tokens or bad options;
    ///   `.factorizationFailed` when H + λI is not positive definite even after every retry, with the
    ///   last damping tried and what to change.
    public static func prepareFactor(statistics: ActivationStatistics, options: GPTQFactorOptions = GPTQFactorOptions(),
                                     name: String = "") throws(KernelError) -> GPTQFactor {
        let context = name.isEmpty ? "GPTQ" : "GPTQ \(name)"
        guard statistics.tokenCount > 0 else { throw KernelError(.invalidArgument, "\(context): the statistics hold no tokens") }
        let scaleFactor = 2 / Double(statistics.tokenCount)
        return try prepareFactor(.sums(statistics, scale: scaleFactor), columns: statistics.columns, tokenCount: statistics.tokenCount,
                                 diagonal: Self.hessianDiagonal(statistics, scale: scaleFactor), options: options, context: context)
    }

    /// The same factor from H in Float (`GPTQHessian`, what a worker that factors is sent): the
    /// same bits as from the statistics it was made of, in float32 arithmetic (the default).
    /// - Throws: as the other form; `.invalidArgument` for float64 precision (a Float H would
    ///   not give float64's factor).
    public static func prepareFactor(hessian: GPTQHessian, options: GPTQFactorOptions = GPTQFactorOptions(),
                                     name: String = "") throws(KernelError) -> GPTQFactor {
        let context = name.isEmpty ? "GPTQ" : "GPTQ \(name)"
        guard options.precision == .float32 else {
            throw KernelError(.invalidArgument, "\(context): a factor from H in Float is made in float32 arithmetic only, not \(options.precision)")
        }
        return try prepareFactor(.floats(hessian), columns: hessian.columns, tokenCount: hessian.tokenCount,
                                 diagonal: hessian.diagonal, options: options, context: context)
    }

    /// diag H = 2·diag(XᵀX)/n in Double, before dead columns are set to 1.
    static func hessianDiagonal(_ statistics: ActivationStatistics, scale: Double) -> [Double] {
        (0..<statistics.columns).map { FixedPointSum.double(statistics.gramSums[ActivationStatistics.packedRowStart($0, columns: statistics.columns)]) * scale }
    }

    /// Where H's upper triangle is read from.
    enum HessianSource {
        /// The exact sums, scaled by 2/n.
        case sums(ActivationStatistics, scale: Double)
        /// H already in Float (each entry Float(sum · 2/n)).
        case floats(GPTQHessian)
    }

    private static func prepareFactor(_ source: HessianSource, columns k: Int, tokenCount: Int, diagonal exact: [Double],
                                      options: GPTQFactorOptions, context: String) throws(KernelError) -> GPTQFactor {
        guard tokenCount > 0 else { throw KernelError(.invalidArgument, "\(context): the statistics hold no tokens") }
        guard options.dampingPercent >= 0, options.dampingPercent.isFinite, options.maxDampingRetries >= 0, options.dampingGrowth > 1 else {
            throw KernelError(.invalidArgument, "\(context): damping \(options.dampingPercent), retries \(options.maxDampingRetries), growth \(options.dampingGrowth): need damping ≥ 0, retries ≥ 0, growth > 1")
        }
        // diag H, dead columns set to 1 (GPTQ: H[dead, dead] = 1, W[:, dead] = 0).
        var diagonal = exact
        let dead = (0..<k).filter { diagonal[$0] == 0 }.map(Int32.init)
        for d in dead { diagonal[Int(d)] = 1 }
        // act-order: decreasing diag H, ties by column index (a stable order, reproducible anywhere).
        let permutation: [Int32] = options.activationOrder
            ? (0..<k).sorted { diagonal[$0] != diagonal[$1] ? diagonal[$0] > diagonal[$1] : $0 < $1 }.map(Int32.init)
            : (0..<k).map(Int32.init)
        let meanDiagonal = diagonal.reduce(0, +) / Double(k)
        let order = permutation.map(Int.init)

        var percent = options.dampingPercent
        var lastFailure = ""
        var lastPercent = percent
        for retry in 0...options.maxDampingRetries {
            let lambda = percent * meanDiagonal
            lastPercent = percent
            let factor: [Float]?
            switch options.precision {
            case .float32: factor = inverseCholeskyFactor(Float.self, source, columns: k, order: order, dead: dead, damping: lambda, failure: &lastFailure)
            case .float64: factor = inverseCholeskyFactor(Double.self, source, columns: k, order: order, dead: dead, damping: lambda, failure: &lastFailure)
            }
            if let factor {
                return GPTQFactor(unchecked: k, permutation: permutation, deadColumns: dead,
                                  hessianDiagonal: order.map { Float(diagonal[$0]) }, inverseFactor: factor,
                                  dampingPercent: percent, damping: lambda, dampingRetries: retry, tokenCount: tokenCount)
            }
            percent = percent > 0 ? percent * options.dampingGrowth : 0.01
        }
        throw KernelError(.factorizationFailed, "\(context): H + λI is not positive definite (\(lastFailure)) even at damping \(lastPercent) · mean(diag H) after \(options.maxDampingRetries) retries; raise the damping percent or collect more calibration tokens")
    }

    /// U for one damping, or nil (with `failure` set) when the factorization fails.
    static func inverseCholeskyFactor<T: BLASScalar>(
        _: T.Type, _ source: HessianSource, columns k: Int, order: [Int], dead: [Int32], damping: Double,
        failure: inout String
    ) -> [Float]? {
        var a = [T](repeating: 0, count: k * k)
        let ok: Bool = a.withUnsafeMutableBufferPointer { buffer in
            let a = buffer.baseAddress!
            fillReversedHessian(a, source, columns: k, order: order)
            for d in dead {
                // Processing position of dead original column d, then its reversed position.
                let position = k - 1 - order.firstIndex(of: Int(d))!
                a[position * k + position] = 1
            }
            for i in 0..<k { a[i * k + i] += T(damping) }
            do {
                try BlockedCholesky.factorLower(a, n: k)
                // H = 2XᵀX/n is positive semidefinite, so every eigenvalue of H + λI, and hence every
                // squared pivot, is at least λ. A pivot far below that means H is not PSD to working
                // precision (a Cholesky that "succeeds" on a numerically singular matrix yields a
                // huge, meaningless U): treat it as a failure and damp more.
                for i in 0..<k where Double(a[i * k + i]) * Double(a[i * k + i]) < damping / 2 {
                    failure = "squared pivot \(Double(a[i * k + i]) * Double(a[i * k + i])) at position \(k - 1 - i) is below λ/2 = \(damping / 2)"
                    return false
                }
                try BlockedCholesky.invertLower(a, n: k)
            } catch {
                failure = "\(error)"
                return false
            }
            return true
        }
        guard ok else { return nil }
        // U = J L⁻¹ J: reverse the array in place; keep the (now upper) triangle, zero the rest.
        let count = k * k
        a.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<(count / 2) { buffer.swapAt(i, count - 1 - i) }
            for i in 0..<k { for j in 0..<i { buffer[i * k + j] = 0 } }
        }
        for i in 0..<k {
            let d = a[i * k + i]
            if !(d.isFinite && d > 0) {
                failure = "U[\(i), \(i)] = \(d)"
                return nil
            }
        }
        if T.self == Float.self { return unsafeBitCast(a, to: [Float].self) }
        return a.map { Float($0) }
    }

    /// a ← J P H Pᵀ J, the full symmetric K×K Hessian in reversed processing order, from the
    /// packed upper triangle: fill by rows (contiguous reads), mirror by tiles, then permute rows
    /// and columns.
    static func fillReversedHessian<T: BinaryFloatingPoint>(_ a: UnsafeMutablePointer<T>, _ hessian: HessianSource,
                                                           columns k: Int, order: [Int]) {
        switch hessian {
        case .sums(let statistics, let scale):
            statistics.gramSums.withUnsafeBufferPointer { gram in
                for i in 0..<k {
                    let source = gram.baseAddress! + ActivationStatistics.packedRowStart(i, columns: k) - i
                    for j in i..<k { a[i * k + j] = T(FixedPointSum.double(source[j]) * scale) }
                }
            }
        case .floats(let h):
            h.upper.withUnsafeBufferPointer { upper in
                for i in 0..<k {
                    let source = upper.baseAddress! + ActivationStatistics.packedRowStart(i, columns: k) - i
                    for j in i..<k { a[i * k + j] = T(source[j]) }
                }
            }
        }
        let tile = 64
        for i0 in stride(from: 0, to: k, by: tile) {
            for j0 in stride(from: 0, to: i0 + 1, by: tile) {
                for i in i0..<min(i0 + tile, k) {
                    for j in j0..<min(j0 + tile, i) { a[i * k + j] = a[j * k + i] }
                }
            }
        }
        // Row a of the result is original row order[k − 1 − a]; likewise for columns.
        let source = (0..<k).map { order[k - 1 - $0] }
        var row = [T](repeating: 0, count: k)
        row.withUnsafeMutableBufferPointer { row in
            // Rows: follow the cycles of the permutation, moving whole rows.
            var placed = [Bool](repeating: false, count: k)
            for start in 0..<k where !placed[start] {
                row.baseAddress!.update(from: a + start * k, count: k)
                var target = start
                while true {
                    placed[target] = true
                    let from = source[target]
                    if from == start {
                        (a + target * k).update(from: row.baseAddress!, count: k)
                        break
                    }
                    (a + target * k).update(from: a + from * k, count: k)
                    target = from
                }
            }
            // Columns: gather each row.
            for r in 0..<k {
                let line = a + r * k
                for c in 0..<k { row[c] = line[source[c]] }
                line.update(from: row.baseAddress!, count: k)
            }
        }
    }
}
