/// What a GGUF file's metadata says about the model: architecture, sizes, and how its tensors
/// are named and laid out relative to Hugging Face's.
public struct GGUFModel: Sendable {
    /// `general.architecture`: "llama" (also Mistral and SmolLM files), "qwen2" or "qwen3".
    public let architecture: String
    public let layers: Int
    public let hidden: Int
    public let intermediate: Int
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    public let contextLength: Int
    public let rmsEps: Double
    public let ropeTheta: Double
    public let vocabularySize: Int
    /// No `output.weight`: lm_head is the embedding.
    public let tiedEmbeddings: Bool

    public static let architectures = ["llama", "qwen2", "qwen3"]

    /// transformers' model class for each supported architecture (config.json's `architectures`).
    static let modelClasses = ["llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"]

    /// The transformers model class of `architecture` (one of `architectures`, checked on reading).
    public var modelClass: String { Self.modelClasses[architecture] ?? "LlamaForCausalLM" }

    /// Reads the model's hyperparameters from `file`'s metadata.
    /// - Throws: `GGUFError` for an unsupported architecture or a missing or wrong key.
    public init(_ file: GGUFFile) throws {
        guard let architecture = file.metadata["general.architecture"]?.string else {
            throw GGUFError(.badMetadata, file: file.path, "general.architecture is missing")
        }
        guard Self.architectures.contains(architecture), Self.modelClasses[architecture] != nil else {
            throw GGUFError(.unsupportedModel, file: file.path, "architecture \"\(architecture)\" is not supported; supported: \(Self.architectures.joined(separator: ", "))")
        }
        if let scaling = file.metadata["\(architecture).rope.scaling.type"]?.string, scaling != "none" {
            throw GGUFError(.unsupportedModel, file: file.path, "\(architecture).rope.scaling.type \"\(scaling)\" is not supported")
        }
        func integer(_ key: String) throws -> Int {
            guard let value = file.metadata["\(architecture).\(key)"]?.int, value > 0 else {
                throw GGUFError(.badMetadata, file: file.path, "\(architecture).\(key) is missing or not a positive integer")
            }
            return value
        }
        self.architecture = architecture
        layers = try integer("block_count")
        hidden = try integer("embedding_length")
        intermediate = try integer("feed_forward_length")
        heads = try integer("attention.head_count")
        kvHeads = (try? integer("attention.head_count_kv")) ?? heads
        headDim = (try? integer("attention.key_length")) ?? hidden / heads
        contextLength = try integer("context_length")
        rmsEps = file.metadata["\(architecture).attention.layer_norm_rms_epsilon"]?.double ?? 1e-6
        ropeTheta = file.metadata["\(architecture).rope.freq_base"]?.double ?? 10000
        vocabularySize = (try? integer("vocab_size")) ?? file.metadata["tokenizer.ggml.tokens"]?.array?.count ?? 0
        guard vocabularySize > 0 else { throw GGUFError(.badMetadata, file: file.path, "no vocabulary size (\(architecture).vocab_size or tokenizer.ggml.tokens)") }
        tiedEmbeddings = (try? file.info("output.weight")) == nil
    }

    /// llama.cpp's converter reorders the rows of Llama-family q and k projections for its RoPE
    /// layout; Qwen files keep Hugging Face's order.
    public var permutesQueryKey: Bool { architecture == "llama" }

    /// The Hugging Face name of a GGUF tensor, or nil for tensors with no counterpart
    /// (e.g. `rope_freqs.weight`).
    public static func huggingFaceName(_ name: String) -> String? {
        let fixed = ["token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"]
        if let mapped = fixed[name] { return mapped }
        let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]) else { return nil }
        let modules = [
            "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
            "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
            "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
            "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
        ]
        let rest = parts[2].split(separator: ".", maxSplits: 1).map(String.init)
        guard rest.count == 2, let module = modules[rest[0]], rest[1] == "weight" || rest[1] == "bias" else { return nil }
        return "model.layers.\(layer).\(module).\(rest[1])"
    }

    /// Undoes llama.cpp's q/k row permutation in place (`permute` in convert_hf_to_gguf.py):
    /// the converter reshapes rows as [heads, 2, headDim/2] and swaps the last two axes, so GGUF
    /// row h·d + 2j + i holds Hugging Face row h·d + i·d/2 + j.
    /// - Parameters:
    ///   - values: rows × columns, row-major (rows = heads · headDim).
    ///   - heads: the head count of this projection (kv heads for k).
    public static func unpermuteRows(_ values: [Float], rows: Int, columns: Int, heads: Int) -> [Float] {
        let headDim = rows / heads
        let half = headDim / 2
        var result = [Float](repeating: 0, count: values.count)
        for h in 0..<heads {
            for j in 0..<half {
                for i in 0..<2 {
                    let from = (h * headDim + 2 * j + i) * columns
                    let to = (h * headDim + i * half + j) * columns
                    result[to..<(to + columns)] = values[from..<(from + columns)]
                }
            }
        }
        return result
    }
}
