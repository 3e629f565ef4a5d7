import Foundation
import Kernels
import Tensors

/// The `quantization_config` block of a compressed-tensors checkpoint's config.json, as written
/// (what `compressed_tensors.QuantizationConfig.model_dump()` produces, checked against 0.20);
/// `CompressedTensorsStore` reads it back.
public enum CompressedTensorsConfig {
    /// - Parameters:
    ///   - weights: the weights' grid (every quantized linear's).
    ///   - staticActOrder: GPTQ act-order with static groups (`actorder: "static"`, no g_idx).
    ///   - activationBits: int8 activations quantized per token at run time (W8A8, the
    ///     `int-quantized` format), or nil for weight-only `pack-quantized`.
    ///   - ignore: full names of the linear modules left unquantized (lm_head included).
    public static func quantizationConfig(weights scheme: QuantizationScheme, staticActOrder: Bool, activationBits: Int?, ignore: [String]) -> [String: Any] {
        var weights: [String: Any] = [
            "num_bits": scheme.bits,
            "type": "int",
            "symmetric": scheme.symmetric,
            "strategy": scheme.groupSize == -1 ? "channel" : "group",
            "dynamic": false,
        ]
        weights["group_size"] = scheme.groupSize == -1 ? NSNull() : scheme.groupSize
        weights["actorder"] = staticActOrder ? "static" : NSNull()
        // W8A8: int8 activations quantized per token at run time, symmetric.
        let activations: Any = activationBits.map { bits -> [String: Any] in
            ["num_bits": bits, "type": "int", "symmetric": true, "strategy": "token", "dynamic": true]
        } ?? NSNull()
        let format = activationBits == nil ? "pack-quantized" : "int-quantized"
        return [
            "quant_method": "compressed-tensors",
            "format": format,
            "quantization_status": "compressed",
            "config_groups": [
                "group_0": [
                    "targets": ["Linear"],
                    "weights": weights,
                    "input_activations": activations,
                    "output_activations": NSNull(),
                    "format": format,
                ] as [String: Any],
            ],
            "ignore": ignore,
            "kv_cache_scheme": NSNull(),
            "global_compression_ratio": NSNull(),
        ]
    }
}
