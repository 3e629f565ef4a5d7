import Tensors

/// Quantized weights as `[String: Tensor]` (codes unpacked: the wire form between workers and the
/// coordinator; checkpoints use Formats' `CompressedTensorsPacking` or `GPTQPacking`).
///   "scheme"       I64 [4] = [bits, symmetric (0/1), group size, scale format (0 f32, 1 f16, 2 bf16)]
///   "codes"        I8  [N, K]
///   "scales"       F32 [N, G]
///   "zero_points"  I8  [N, G]
///   "g_idx"        I32 [K]
extension QuantizedWeights {
    /// The weights as named tensors, every value exact.
    public func tensors() -> [String: Tensor] {
        [
            "scheme": .integers(scheme.encoded, dtype: .i64, shape: [4]),
            "codes": .integers(codes, dtype: .i8, shape: [rows, columns]),
            "scales": Tensor(floats: scales, shape: [rows, groupCount]),
            "zero_points": .integers(zeroPoints, dtype: .i8, shape: [rows, groupCount]),
            "g_idx": .integers(groupIndex, dtype: .i32, shape: [columns]),
        ]
    }

    /// Weights read back from `tensors()`'s form.
    /// - Throws: `KernelError.malformedTensor` naming what is missing or does not fit.
    public init(tensors: [String: Tensor], name: String) throws(KernelError) {
        let reader = TensorReader(tensors: tensors, context: "quantized weights \(name)")
        let scheme = try QuantizationScheme(encoded: try reader.int64s("scheme", count: 4), reader: reader)
        let codesTensor = try reader.tensor("codes", dtypes: [.i8])
        try reader.require(codesTensor.shape.count == 2, "\"codes\" has shape \(codesTensor.shape), expected [N, K]")
        let (n, k) = (codesTensor.shape[0], codesTensor.shape[1])
        let g: Int
        do { g = try scheme.groupCount(columns: k) } catch { throw KernelError(.malformedTensor, "quantized weights \(name): \(error.message)") }
        do {
            try self.init(scheme: scheme, rows: n, columns: k, codes: codesTensor.integers(as: Int8.self),
                          scales: try reader.floats("scales", shape: [n, g]), zeroPoints: try reader.int8s("zero_points", shape: [n, g]),
                          groupIndex: try reader.int32s("g_idx", shape: [k]))
        } catch {
            throw KernelError(.malformedTensor, error.code == .malformedTensor ? error.message : "quantized weights \(name): \(error.message)")
        }
    }
}

extension QuantizationScheme {
    /// [bits, symmetric, group size, scale format].
    var encoded: [Int64] {
        [Int64(bits), symmetric ? 1 : 0, Int64(groupSize), Int64(ScaleFormat.allCases.firstIndex(of: scaleFormat)!)]
    }

    init(encoded values: [Int], reader: TensorReader) throws(KernelError) {
        try reader.require(values.count == 4 && (0...1).contains(values[1]) && ScaleFormat.allCases.indices.contains(values[3]),
                           "scheme \(values) is not [bits, symmetric 0/1, group size, scale format 0…2]")
        do {
            try self.init(bits: values[0], symmetric: values[1] == 1, groupSize: values[2], scaleFormat: ScaleFormat.allCases[values[3]])
        } catch {
            throw KernelError(.malformedTensor, "\(reader.context): \(error.message)")
        }
    }
}
