import Kernels
import Tensors

/// compressed-tensors `pack-quantized` tensors of one linear layer (names relative to the module,
/// e.g. "weight_packed"; the checkpoint writer prefixes "model.layers.3.mlp.down_proj.").
///
/// Verified against compressed-tensors 0.20 (`compressors/pack_quantized/`, `pack_to_int32`,
/// `unpack_from_int32`, `quantization/lifecycle/forward.py`):
///   weight_packed      I32 [N, ⌈K·b/32⌉]  per row, the dense bit stream of q + 2^(b−1) over k
///   weight_scale       [N, G] in the model's dtype (`scaleDType`)
///   weight_zero_point  I32 [⌈N·b/32⌉, G]  asymmetric only: per group, the dense bit stream of
///                      z + 2^(b−1) over n (`pack_to_int32(zero_point, b, packed_dim=0)`)
///   weight_shape       I64 [2] = [N, K]
///   weight_g_idx       I32 [K]  only when g_idx is not k / group size (act-order with dynamic
///                      groups). Note: compressed-tensors 0.20 removed `actorder: "group"`, so
///                      that loader refuses such a config; older versions and vLLM read it.
/// A loader computes W = (q − z) · s with s in the scale dtype.
public enum CompressedTensorsPacking {
    /// Packs `weights` as compressed-tensors stores them.
    /// - Parameter scaleDType: the dtype of `weight_scale` (the model's: BF16, F16 or F32). Scales
    ///   are rounded to it; quantize with the matching `ScaleFormat` for the codes to be optimal.
    public static func pack(_ weights: QuantizedWeights, scaleDType: DType = .bf16) -> [String: Tensor] {
        let (n, k, b, g) = (weights.rows, weights.columns, weights.scheme.bits, weights.groupCount)
        let offset = Int32(1 << (b - 1))
        let perRow = BitPacking.wordCount(values: k, bits: b)
        var packed = [Int32](repeating: 0, count: n * perRow)
        weights.codes.withUnsafeBufferPointer { codes in
            for row in 0..<n {
                BitPacking.pack(count: k, bits: b, value: { UInt32(bitPattern: Int32(codes[row * k + $0]) + offset) },
                                store: { packed[row * perRow + $0] = Int32(bitPattern: $1) })
            }
        }
        var tensors: [String: Tensor] = [
            "weight_packed": .integers(packed, dtype: .i32, shape: [n, perRow]),
            "weight_scale": Tensor(floats: weights.scales, shape: [n, g], dtype: scaleDType),
            "weight_shape": .integers([Int64(n), Int64(k)], dtype: .i64, shape: [2]),
        ]
        if !weights.scheme.symmetric {
            let words = BitPacking.wordCount(values: n, bits: b)
            var zeros = [Int32](repeating: 0, count: words * g)
            for group in 0..<g {
                BitPacking.pack(count: n, bits: b, value: { UInt32(bitPattern: Int32(weights.zeroPoints[$0 * g + group]) + offset) },
                                store: { zeros[$0 * g + group] = Int32(bitPattern: $1) })
            }
            tensors["weight_zero_point"] = .integers(zeros, dtype: .i32, shape: [words, g])
        }
        if !weights.hasTrivialGroupIndex {
            tensors["weight_g_idx"] = .integers(weights.groupIndex, dtype: .i32, shape: [k])
        }
        return tensors
    }

    /// Reads `pack`'s tensors back (also those compressed-tensors writes).
    /// - Parameters:
    ///   - scheme: bits, symmetry and group size from the checkpoint's `quantization_config`.
    ///   - name: the module, for error messages.
    /// - Throws: `KernelError.malformedTensor` naming the tensor that is missing or does not fit.
    public static func unpack(_ tensors: [String: Tensor], scheme: QuantizationScheme, name: String) throws(KernelError) -> QuantizedWeights {
        let reader = TensorReader(tensors: tensors, context: "compressed-tensors \(name)")
        let shape = try reader.int64s("weight_shape", count: 2)
        let (n, k, b) = (shape[0], shape[1], scheme.bits)
        // Sizes up to 2^31 − 1 (as `CompressedTensorsStore.layout` reads them) keep k·bits and the
        // word counts below from overflowing (a huge weight_shape trapped, found by the
        // `compressed-tensors` fuzz target); weight_packed's shape then bounds n·k by the file.
        try reader.require(n >= 0 && k > 0 && n <= Int(Int32.max) && k <= Int(Int32.max),
                           "weight_shape \(shape) is not a matrix shape (sizes 1 to 2147483647)")
        let g: Int
        do { g = try scheme.groupCount(columns: k) } catch { throw KernelError(.malformedTensor, "compressed-tensors \(name): \(error.message)") }
        let offset = Int32(1 << (b - 1))
        let perRow = BitPacking.wordCount(values: k, bits: b)
        let packed = try reader.int32s("weight_packed", shape: [n, perRow])
        var codes = [Int8](repeating: 0, count: n * k)
        for row in 0..<n {
            BitPacking.unpack(count: k, bits: b, word: { UInt32(bitPattern: packed[row * perRow + $0]) },
                              store: { codes[row * k + $0] = Int8(Int32(bitPattern: $1) - offset) })
        }
        let scales = try reader.tensor("weight_scale", dtypes: [.f32, .bf16, .f16], shape: [n, g]).floats()
        var zeros = [Int8](repeating: 0, count: n * g)
        if !scheme.symmetric {
            let words = BitPacking.wordCount(values: n, bits: b)
            let packedZeros = try reader.int32s("weight_zero_point", shape: [words, g])
            for group in 0..<g {
                BitPacking.unpack(count: n, bits: b, word: { UInt32(bitPattern: packedZeros[$0 * g + group]) },
                                  store: { zeros[$0 * g + group] = Int8(Int32(bitPattern: $1) - offset) })
            }
        }
        let groupIndex = tensors["weight_g_idx"] == nil
            ? QuantizedWeights.trivialGroupIndex(columns: k, groupLength: k / g)
            : try reader.int32s("weight_g_idx", shape: [k])
        do {
            return try QuantizedWeights(scheme: scheme, rows: n, columns: k, codes: codes, scales: scales, zeroPoints: zeros, groupIndex: groupIndex)
        } catch {
            throw KernelError(.malformedTensor, "compressed-tensors \(name): \(error.message)")
        }
    }
}
