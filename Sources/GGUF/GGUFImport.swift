import Checkpoint
import Foundation
import ModelConfiguration
import Tensors

/// Converts a GGUF model into a Hugging Face checkpoint directory: `config.json`,
/// `model.safetensors` (every tensor dequantized to F32: the values ggml itself computes, kept
/// without a further rounding to bf16), `tokenizer.json`, `tokenizer_config.json` and
/// `generation_config.json`. llama.cpp's q/k row permutation is undone on the way.
public enum GGUFImport {
    /// What an import wrote.
    public struct Summary: Sendable {
        public var tensors: Int
        public var bytes: Int
        public var model: GGUFModel
    }

    /// Imports `file` into `directory` (created if needed; existing checkpoint files are replaced).
    /// Everything the metadata says — the model's config, checked as `coordinator eval` checks
    /// it, and the tokenizer — is checked before a tensor is dequantized or a file written.
    /// Write into a directory of its own and move it into place (`coordinator import-gguf`
    /// does), so that a failed import leaves nothing that looks like a model.
    /// - Throws: `GGUFError` for an unsupported model or tokenizer, `CheckpointError` for I/O.
    @discardableResult
    public static func run(_ file: GGUFFile, to directory: String) throws -> Summary {
        let model = try GGUFModel(file)
        let configObject = config(model, file)
        do {
            _ = try ModelConfig(parsing: try JSONSerialization.data(withJSONObject: configObject), file: "config.json")
        } catch {
            throw GGUFError(.badMetadata, file: file.path, "its metadata describes a model calibrate cannot load: \(error)")
        }
        let tokenizer = try GGUFTokenizer(file)
        let (tokenizerJSON, tokenizerConfig) = (try tokenizer.tokenizerJSON(), tokenizer.tokenizerConfig())
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var tensors: [String: Tensor] = [:]
        for info in file.tensors {
            guard let name = GGUFModel.huggingFaceName(info.name) else { continue }
            var values = try file.floats(info.name)
            let shape = info.shape
            if model.permutesQueryKey, name.contains("self_attn.q_proj.") || name.contains("self_attn.k_proj.") {
                let heads = name.contains("q_proj") ? model.heads : model.kvHeads
                values = GGUFModel.unpermuteRows(values, rows: shape[0], columns: shape.count > 1 ? shape[1] : 1, heads: heads)
            }
            tensors[name] = Tensor(floats: values, shape: shape)
        }
        guard tensors["model.embed_tokens.weight"] != nil else {
            throw GGUFError(.badTensor, file: file.path, "has no token_embd.weight")
        }
        let output = OutputDirectoryFiles(directory: directory)
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: output.path("model.safetensors"))
        try output.json(configObject, "config.json")
        try output.json(generationConfig(file), "generation_config.json")
        try output.json(tokenizerJSON, "tokenizer.json")
        try output.json(tokenizerConfig, "tokenizer_config.json")
        return Summary(tensors: tensors.count, bytes: tensors.values.reduce(0) { $0 + $1.byteCount }, model: model)
    }

    static func config(_ model: GGUFModel, _ file: GGUFFile) -> [String: Any] {
        let type = model.architecture
        var config: [String: Any] = [
            "architectures": [model.modelClass],
            "model_type": type,
            "hidden_size": model.hidden,
            "intermediate_size": model.intermediate,
            "num_hidden_layers": model.layers,
            "num_attention_heads": model.heads,
            "num_key_value_heads": model.kvHeads,
            "head_dim": model.headDim,
            "max_position_embeddings": model.contextLength,
            "rms_norm_eps": model.rmsEps,
            "rope_theta": model.ropeTheta,
            "vocab_size": model.vocabularySize,
            "tie_word_embeddings": model.tiedEmbeddings,
            "hidden_act": "silu",
            "torch_dtype": "float32",
        ]
        if type == "llama" { (config["attention_bias"], config["mlp_bias"]) = (false, false) }
        if type == "qwen3" { config["attention_bias"] = false }
        for (key, name) in [("bos_token_id", "tokenizer.ggml.bos_token_id"), ("eos_token_id", "tokenizer.ggml.eos_token_id"), ("pad_token_id", "tokenizer.ggml.padding_token_id")] {
            if let id = file.metadata[name]?.int { config[key] = id }
        }
        return config
    }

    static func generationConfig(_ file: GGUFFile) -> [String: Any] {
        var config: [String: Any] = ["_from_model_config": true]
        if let bos = file.metadata["tokenizer.ggml.bos_token_id"]?.int { config["bos_token_id"] = bos }
        if let eos = file.metadata["tokenizer.ggml.eos_token_id"]?.int { config["eos_token_id"] = eos }
        return config
    }
}

/// JSON side files written atomically into the import's directory.
struct OutputDirectoryFiles {
    let directory: String

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    func json(_ object: Any, _ name: String) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try AtomicFile.write([UInt8](data) + [10], to: path(name))
    }
}
