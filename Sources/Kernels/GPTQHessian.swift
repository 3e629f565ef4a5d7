import Tensors

/// GPTQ's H = 2·XᵀX/n in Float, what a worker that makes the factor itself is sent (the same
/// bytes on the wire as the factor it replaces: a Float upper triangle): each entry is
/// Float(sum · 2/n) from the exact sums, exactly as `GPTQ.prepareFactor(statistics:)` rounds them
/// into its float32 working matrix, and the diagonal travels again in Double (act-order sorts by
/// it, damping takes its mean), so the factor made from it has the same bits.
public struct GPTQHessian: Sendable, Equatable {
    /// K, the input width.
    public let columns: Int
    /// Tokens behind H.
    public let tokenCount: Int
    /// H's upper triangle, packed row-major (row i holds columns i..<K), K(K+1)/2 Floats.
    public let upper: [Float]
    /// diag H in Double (before dead columns are set to 1).
    public let diagonal: [Double]

    /// - Throws: `KernelError.invalidArgument` when the sizes do not fit, a value is not finite,
    ///   or a diagonal entry is negative.
    public init(columns: Int, tokenCount: Int, upper: [Float], diagonal: [Double]) throws(KernelError) {
        guard columns > 0, tokenCount > 0, upper.count == columns * (columns + 1) / 2, diagonal.count == columns else {
            throw KernelError(.invalidArgument, "GPTQ Hessian: K = \(columns), \(tokenCount) tokens, \(upper.count) upper entries and \(diagonal.count) diagonal ones; expected K > 0, tokens > 0, K(K+1)/2 and K")
        }
        if let bad = upper.firstIndex(where: { !$0.isFinite }) { throw KernelError(.invalidArgument, "GPTQ Hessian: upper entry \(bad) is \(upper[bad])") }
        if let bad = diagonal.firstIndex(where: { !($0.isFinite && $0 >= 0) }) { throw KernelError(.invalidArgument, "GPTQ Hessian: diagonal entry \(bad) is \(diagonal[bad])") }
        (self.columns, self.tokenCount, self.upper, self.diagonal) = (columns, tokenCount, upper, diagonal)
    }

    /// "upper" F32 [K(K+1)/2], "diagonal" F64 [K], "tokens" I64 [1].
    public func tensors() -> [String: Tensor] {
        [
            "upper": Tensor(floats: upper, shape: [upper.count]),
            "diagonal": Tensor(doubles: diagonal, shape: [columns]),
            "tokens": .integers([Int64(tokenCount)], dtype: .i64, shape: [1]),
        ]
    }

    /// Read back from `tensors()`'s form, checked as the memberwise initializer checks.
    public init(tensors: [String: Tensor], name: String) throws(KernelError) {
        let reader = TensorReader(tensors: tensors, context: "GPTQ Hessian \(name)")
        let diagonalTensor = try reader.tensor("diagonal", dtypes: [.f64])
        try reader.require(diagonalTensor.shape.count == 1 && diagonalTensor.shape[0] > 0, "\"diagonal\" has shape \(diagonalTensor.shape), expected [K]")
        let k = diagonalTensor.shape[0]
        let upper = try reader.floats("upper", shape: [k * (k + 1) / 2])
        let tokens = try reader.int64s("tokens", count: 1)
        do {
            try self.init(columns: k, tokenCount: tokens[0], upper: upper, diagonal: try reader.doubles("diagonal", count: k))
        } catch {
            throw KernelError(.malformedTensor, "GPTQ Hessian \(name): \(error.message)")
        }
    }
}

extension ActivationStatistics {
    /// H = 2·XᵀX/n in the form a worker factors (`GPTQHessian`).
    /// - Throws: `KernelError.invalidArgument` when no tokens were seen.
    public func gptqHessian() throws(KernelError) -> GPTQHessian {
        guard tokenCount > 0 else { throw KernelError(.invalidArgument, "statistics: no tokens seen, so no Hessian") }
        let scale = 2 / Double(tokenCount)
        let upper = gramSums.map { Float(FixedPointSum.double($0) * scale) }
        return try GPTQHessian(columns: columns, tokenCount: tokenCount, upper: upper, diagonal: GPTQ.hessianDiagonal(self, scale: scale))
    }
}
