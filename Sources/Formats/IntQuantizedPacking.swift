import Kernels
import Tensors

/// compressed-tensors `int-quantized` tensors of one linear (what W8A8 int8 checkpoints hold):
///   weight             I8 [N, K]  the codes themselves
///   weight_scale       [N, G] in the model's dtype ([N, 1] per channel)
///   weight_zero_point  I8 [N, G]  asymmetric only
/// A loader computes W = (q − z)·s (compressed-tensors 0.20, `NaiveQuantizationCompressor`).
/// Codes of 8 bits or fewer fit; act-order g_idx is not part of this format.
public enum IntQuantizedPacking {
    /// The tensors of `weights`.
    /// - Throws: `KernelError.invalidArgument` when the weights carry a non-trivial g_idx.
    public static func pack(_ weights: QuantizedWeights, scaleDType: DType = .bf16) throws(KernelError) -> [String: Tensor] {
        guard weights.hasTrivialGroupIndex else {
            throw KernelError(.invalidArgument, "int-quantized cannot store act-order g_idx; use static groups")
        }
        let (n, k, g) = (weights.rows, weights.columns, weights.groupCount)
        var tensors: [String: Tensor] = [
            "weight": .integers(weights.codes, dtype: .i8, shape: [n, k]),
            "weight_scale": Tensor(floats: weights.scales, shape: [n, g], dtype: scaleDType),
        ]
        if !weights.scheme.symmetric {
            tensors["weight_zero_point"] = .integers(weights.zeroPoints, dtype: .i8, shape: [n, g])
        }
        return tensors
    }

    /// Reads `pack`'s tensors back.
    /// - Throws: `KernelError.malformedTensor` naming the tensor that is missing or does not fit.
    public static func unpack(_ tensors: [String: Tensor], scheme: QuantizationScheme, name: String) throws(KernelError) -> QuantizedWeights {
        let reader = TensorReader(tensors: tensors, context: "int-quantized \(name)")
        let weight = try reader.tensor("weight", dtypes: [.i8])
        try reader.require(weight.shape.count == 2, "\"weight\" has shape \(weight.shape), expected [N, K]")
        let (n, k) = (weight.shape[0], weight.shape[1])
        let g: Int
        do { g = try scheme.groupCount(columns: k) } catch { throw KernelError(.malformedTensor, "int-quantized \(name): \(error.message)") }
        let codes = weight.floats().map { Int8($0) }
        let scales = try reader.tensor("weight_scale", dtypes: [.f32, .bf16, .f16], shape: [n, g]).floats()
        let zeros = scheme.symmetric ? [Int8](repeating: 0, count: n * g)
            : try reader.tensor("weight_zero_point", dtypes: [.i8], shape: [n, g]).floats().map { Int8($0) }
        do {
            return try QuantizedWeights(scheme: scheme, rows: n, columns: k, codes: codes, scales: scales, zeroPoints: zeros,
                                        groupIndex: QuantizedWeights.trivialGroupIndex(columns: k, groupLength: k / g))
        } catch {
            throw KernelError(.malformedTensor, "int-quantized \(name): \(error.message)")
        }
    }
}
