import Foundation

/// A byte-level BPE tokenizer (`tokenizer.ggml.model` "gpt2") described by GGUF metadata, written
/// as the `tokenizer.json` the `tokenizers` library (and calibrate's Tokenizer) reads.
///
/// The pre-tokenizer follows `tokenizer.ggml.pre` as llama.cpp maps it: "smollm" splits digits
/// one by one and then applies GPT-2's byte-level split (the `Sequence[Digits, ByteLevel]` of
/// SmolLM's own tokenizer.json); "gpt2"/"default" is GPT-2's; "llama-bpe"/"llama3" and "qwen2"
/// use their regexes before a byte-level mapping. Tokens of type CONTROL (3) and USER_DEFINED (4)
/// become added tokens (CONTROL ones special).
struct GGUFTokenizer {
    let tokens: [String]
    let types: [Int]
    let merges: [String]
    let pre: String
    let bos: Int?
    let eos: Int?
    let unknown: Int?
    let padding: Int?
    let chatTemplate: String?
    let addBOS: Bool

    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    init(_ file: GGUFFile) throws {
        let metadata = file.metadata
        let model = metadata["tokenizer.ggml.model"]?.string ?? "?"
        guard model == "gpt2" else {
            throw GGUFError(.unsupportedModel, file: file.path, "tokenizer.ggml.model \"\(model)\" is not supported; supported: gpt2 (byte-level BPE)")
        }
        guard let tokens = metadata["tokenizer.ggml.tokens"]?.array?.compactMap(\.string), !tokens.isEmpty,
              let merges = metadata["tokenizer.ggml.merges"]?.array?.compactMap(\.string) else {
            throw GGUFError(.badMetadata, file: file.path, "tokenizer.ggml.tokens or tokenizer.ggml.merges is missing or not strings")
        }
        self.tokens = tokens
        self.merges = merges
        types = metadata["tokenizer.ggml.token_type"]?.array?.compactMap(\.int) ?? Array(repeating: 1, count: tokens.count)
        guard types.count == tokens.count else {
            throw GGUFError(.badMetadata, file: file.path, "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        pre = metadata["tokenizer.ggml.pre"]?.string ?? "default"
        bos = metadata["tokenizer.ggml.bos_token_id"]?.int
        eos = metadata["tokenizer.ggml.eos_token_id"]?.int
        unknown = metadata["tokenizer.ggml.unknown_token_id"]?.int
        padding = metadata["tokenizer.ggml.padding_token_id"]?.int
        chatTemplate = metadata["tokenizer.chat_template"]?.string
        addBOS = metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false
        _ = try preTokenizer(file: file.path)
    }

    func preTokenizer(file: String = "") throws -> [String: Any] {
        let byteLevel: (Bool) -> [String: Any] = { ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": $0] }
        let split: (String) -> [String: Any] = { ["type": "Split", "pattern": ["Regex": $0], "behavior": "Isolated", "invert": false] }
        switch pre {
        case "smollm": return ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel(true)]]
        case "gpt2", "default": return byteLevel(true)
        case "llama-bpe", "llama3": return ["type": "Sequence", "pretokenizers": [split(Self.llama3Pattern), byteLevel(false)]]
        case "qwen2": return ["type": "Sequence", "pretokenizers": [split(Self.qwen2Pattern), byteLevel(false)]]
        default:
            throw GGUFError(.unsupportedModel, file: file, "tokenizer.ggml.pre \"\(pre)\" is not supported; supported: smollm, gpt2, default, llama-bpe, llama3, qwen2")
        }
    }

    func tokenizerJSON() throws -> [String: Any] {
        var vocabulary: [String: Int] = [:]
        for (id, token) in tokens.enumerated() where vocabulary[token] == nil { vocabulary[token] = id }
        let added: [[String: Any]] = tokens.indices.filter { types[$0] == 3 || types[$0] == 4 }.map { id in
            ["id": id, "content": tokens[id], "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": types[id] == 4, "special": types[id] == 3]
        }
        return [
            "version": "1.0",
            "truncation": NSNull(),
            "padding": NSNull(),
            "added_tokens": added,
            "normalizer": NSNull(),
            "pre_tokenizer": try preTokenizer(),
            "post_processor": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": unknown.map { tokens[$0] } ?? NSNull(),
                "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(), "fuse_unk": false,
                "byte_fallback": false, "ignore_merges": false, "vocab": vocabulary, "merges": merges,
            ] as [String: Any],
        ]
    }

    func tokenizerConfig() -> [String: Any] {
        var config: [String: Any] = ["tokenizer_class": "GPT2Tokenizer", "add_bos_token": addBOS, "add_prefix_space": false,
                                     "clean_up_tokenization_spaces": false]
        for (key, id) in [("bos_token", bos), ("eos_token", eos), ("unk_token", unknown), ("pad_token", padding)] {
            if let id, tokens.indices.contains(id) { config[key] = tokens[id] }
        }
        if let chatTemplate { config["chat_template"] = chatTemplate }
        return config
    }
}
