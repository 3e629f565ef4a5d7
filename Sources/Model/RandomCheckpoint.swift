import Checkpoint
import Foundation
import Tensors

/// A Llama checkpoint of random weights, of any shape: `config.json` and one f16
/// `model.safetensors`, for tests and benchmarks that need shapes no fixture has. Linear weights
/// are uniform with variance 1/in_features (outputs keep their inputs' scale), norms are ones.
/// The same arguments write the same bytes.
public enum RandomCheckpoint {
    public struct Shape: Sendable {
        public var hidden: Int
        public var intermediate: Int
        public var layers: Int
        public var heads: Int
        public var keyValueHeads: Int
        public var vocabulary: Int

        public init(hidden: Int, intermediate: Int, layers: Int, heads: Int, keyValueHeads: Int, vocabulary: Int = 128) {
            (self.hidden, self.intermediate, self.layers, self.heads, self.keyValueHeads, self.vocabulary) =
                (hidden, intermediate, layers, heads, keyValueHeads, vocabulary)
        }
    }

    /// Writes the checkpoint into `directory` (created if missing).
    /// - Throws: `CheckpointError` when the files cannot be written.
    public static func write(_ shape: Shape, to directory: String, seed: UInt64 = 1) throws {
        precondition(shape.heads > 0 && shape.hidden % shape.heads == 0 && shape.heads % shape.keyValueHeads == 0, "RandomCheckpoint: heads must divide hidden, kv heads the heads")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let headDim = shape.hidden / shape.heads
        let config: [String: Any] = [
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
            "hidden_size": shape.hidden, "intermediate_size": shape.intermediate, "num_hidden_layers": shape.layers,
            "num_attention_heads": shape.heads, "num_key_value_heads": shape.keyValueHeads, "vocab_size": shape.vocabulary,
            "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "float16",
        ]
        let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try json.write(to: URL(fileURLWithPath: directory + "/config.json"))
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func random(_ rows: Int, _ columns: Int) -> Tensor {
            let bound = Float(3.0 / Double(columns)).squareRoot()
            let values = (0..<(rows * columns)).map { _ -> Float in
                state ^= state >> 12
                state ^= state << 25
                state ^= state >> 27
                return bound * Float(Int64(bitPattern: state &* 0x2545_F491_4F6C_DD1D) >> 40) / Float(1 << 23)
            }
            return Tensor(floats: values, shape: [rows, columns], dtype: .f16)
        }
        let ones = { (count: Int) in Tensor(floats: [Float](repeating: 1, count: count), shape: [count], dtype: .f16) }
        let (h, m, q, kv) = (shape.hidden, shape.intermediate, shape.heads * headDim, shape.keyValueHeads * headDim)
        var tensors: [String: Tensor] = ["model.embed_tokens.weight": random(shape.vocabulary, h), "model.norm.weight": ones(h), "lm_head.weight": random(shape.vocabulary, h)]
        for layer in 0..<shape.layers {
            let name = { LayerWeights.tensorName(layer: layer, $0) }
            tensors[name("input_layernorm.weight")] = ones(h)
            tensors[name("post_attention_layernorm.weight")] = ones(h)
            tensors[name("self_attn.q_proj.weight")] = random(q, h)
            tensors[name("self_attn.k_proj.weight")] = random(kv, h)
            tensors[name("self_attn.v_proj.weight")] = random(kv, h)
            tensors[name("self_attn.o_proj.weight")] = random(h, q)
            tensors[name("mlp.gate_proj.weight")] = random(m, h)
            tensors[name("mlp.up_proj.weight")] = random(m, h)
            tensors[name("mlp.down_proj.weight")] = random(h, m)
        }
        try SafetensorsWriter.write(tensors, to: directory + "/model.safetensors")
    }
}
