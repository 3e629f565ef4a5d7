import Foundation

/// The `quantization_config` block of the output's config.json, in compressed-tensors' schema
/// (what `compressed_tensors.QuantizationConfig.model_dump()` produces, checked against 0.20).
enum QuantizationConfig {
    /// - Parameter ignore: full names of the linear modules left unquantized (lm_head included).
    static func compressedTensors(recipe: Recipe, ignore: [String]) -> [String: Any] {
        var weights: [String: Any] = [
            "num_bits": recipe.bits,
            "type": "int",
            "symmetric": recipe.symmetric,
            "strategy": recipe.groupSize == -1 ? "channel" : "group",
            "dynamic": false,
        ]
        weights["group_size"] = recipe.groupSize == -1 ? NSNull() : recipe.groupSize
        weights["actorder"] = recipe.actOrder ? "static" : NSNull()
        // W8A8: int8 activations quantized per token at run time, symmetric.
        let activations: Any = recipe.activationBits.map { bits -> [String: Any] in
            ["num_bits": bits, "type": "int", "symmetric": true, "strategy": "token", "dynamic": true]
        } ?? NSNull()
        let format = recipe.activationBits == nil ? "pack-quantized" : "int-quantized"
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
