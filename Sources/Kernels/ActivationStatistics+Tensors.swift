import Tensors

/// Statistics as `[String: Tensor]`, to travel between machines and be saved and merged later.
///
///   "token_count"  I64 [1]
///   "xtx_upper"    F64 [K(K+1)/2]  Σ xxᵀ, upper triangle packed row-major
///   "absmax"       F32 [K]
///   "sum_abs"      F64 [K]
///   "sum_squares"  F64 [K]
/// Every value survives the round trip bit for bit.
extension ActivationStatistics {
    /// The statistics as named tensors.
    public func tensors() -> [String: Tensor] {
        [
            "token_count": .integers([Int64(tokenCount)], dtype: .i64, shape: [1]),
            "xtx_upper": Tensor(doubles: gramUpper, shape: [gramUpper.count]),
            "absmax": Tensor(floats: absMax, shape: [columns]),
            "sum_abs": Tensor(doubles: sumAbs, shape: [columns]),
            "sum_squares": Tensor(doubles: sumSquares, shape: [columns]),
        ]
    }

    /// Statistics read back from `tensors()`'s form.
    /// - Parameter name: what the statistics belong to (layer and module), for error messages.
    /// - Throws: `KernelError.malformedTensor` naming the tensor that is missing, mistyped,
    ///   misshapen or holds impossible values (negative count or sums, NaN).
    public init(tensors: [String: Tensor], name: String) throws(KernelError) {
        let reader = TensorReader(tensors: tensors, context: "statistics \(name)")
        let absMaxTensor = try reader.tensor("absmax", dtypes: [.f32])
        try reader.require(absMaxTensor.shape.count == 1 && absMaxTensor.shape[0] > 0, "\"absmax\" has shape \(absMaxTensor.shape), expected [K] with K > 0")
        let k = absMaxTensor.shape[0]
        let count = try reader.int64s("token_count", count: 1)[0]
        let gram = try reader.doubles("xtx_upper", count: k * (k + 1) / 2)
        let absMax = absMaxTensor.floats()
        let sumAbs = try reader.doubles("sum_abs", count: k)
        let sumSquares = try reader.doubles("sum_squares", count: k)
        try reader.require(count >= 0, "token count \(count) is negative")
        try reader.require(absMax.allSatisfy { $0 >= 0 && $0.isFinite }, "\"absmax\" holds a negative or non-finite value")
        try reader.require(sumAbs.allSatisfy { $0 >= 0 && $0.isFinite } && sumSquares.allSatisfy { $0 >= 0 && $0.isFinite },
                           "\"sum_abs\" or \"sum_squares\" holds a negative or non-finite value")
        try reader.require(gram.allSatisfy(\.isFinite), "\"xtx_upper\" holds a non-finite value")
        self.init(columns: k, tokenCount: count, gramUpper: gram, absMax: absMax, sumAbs: sumAbs, sumSquares: sumSquares)
    }
}
