import Foundation

/// A tokenizer described by GGUF metadata, written as the `tokenizer.json` the `tokenizers`
/// library (and calibrate's Tokenizer) reads. Two kinds, as `tokenizer.ggml.model` names them:
///
/// - "gpt2": byte-level BPE with the file's merges. The pre-tokenizer follows `tokenizer.ggml.pre`
///   as llama.cpp maps it: "smollm" splits digits one by one and then applies GPT-2's byte-level
///   split (the `Sequence[Digits, ByteLevel]` of SmolLM's own tokenizer.json); "gpt2"/"default" is
///   GPT-2's; "llama-bpe"/"llama3" and "qwen2" use their regexes before a byte-level mapping.
/// - "llama": SentencePiece BPE (Llama 2, Mistral v0.1, TinyLlama) with byte fallback, as
///   `GGUFTokenizer+SentencePiece.swift` describes.
///
/// Tokens of type CONTROL (3) and UNKNOWN (2) become special added tokens, USER_DEFINED (4) ones
/// added tokens that are not special; all are matched in the text as it is.
struct GGUFTokenizer {
    enum Kind {
        case byteLevel(merges: [String], pre: String)
        case sentencePiece(scores: [Float], addSpacePrefix: Bool)
    }

    /// llama.cpp's `llama_token_type`.
    enum TokenType {
        static let normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    let kind: Kind
    let tokens: [String]
    let types: [Int]
    let bos: Int?
    let eos: Int?
    let unknown: Int?
    let padding: Int?
    let chatTemplate: String?
    let addBOS: Bool
    let addEOS: Bool

    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    init(_ file: GGUFFile) throws {
        let metadata = file.metadata
        let model = metadata["tokenizer.ggml.model"]?.string ?? "?"
        guard let tokens = metadata["tokenizer.ggml.tokens"]?.array?.compactMap(\.string), !tokens.isEmpty else {
            throw GGUFError(.badMetadata, file: file.path, "tokenizer.ggml.tokens is missing, empty or not strings")
        }
        self.tokens = tokens
        switch model {
        case "gpt2":
            guard let merges = metadata["tokenizer.ggml.merges"]?.array?.compactMap(\.string) else {
                throw GGUFError(.badMetadata, file: file.path, "tokenizer.ggml.merges is missing or not strings (a \"gpt2\" tokenizer needs them)")
            }
            try Self.checkMerges(merges, tokens: tokens, file: file.path)
            kind = .byteLevel(merges: merges, pre: metadata["tokenizer.ggml.pre"]?.string ?? "default")
        case "llama":
            guard let scores = metadata["tokenizer.ggml.scores"]?.array?.compactMap(\.double), scores.count == tokens.count else {
                throw GGUFError(.badMetadata, file: file.path,
                                "tokenizer.ggml.scores must hold one number per token (\(tokens.count)); found \(metadata["tokenizer.ggml.scores"]?.array?.count ?? 0)")
            }
            kind = .sentencePiece(scores: scores.map(Float.init), addSpacePrefix: metadata["tokenizer.ggml.add_space_prefix"]?.bool ?? true)
        default:
            throw GGUFError(.unsupportedModel, file: file.path,
                            "tokenizer.ggml.model \"\(model)\" is not supported; supported: gpt2 (byte-level BPE), llama (SentencePiece BPE)")
        }
        types = metadata["tokenizer.ggml.token_type"]?.array?.compactMap(\.int) ?? Array(repeating: TokenType.normal, count: tokens.count)
        guard types.count == tokens.count else {
            throw GGUFError(.badMetadata, file: file.path, "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        let id: (String) throws -> Int? = { key in
            guard let id = metadata[key]?.int else { return nil }
            guard tokens.indices.contains(id) else {
                throw GGUFError(.badMetadata, file: file.path, "\(key) is \(id); the vocabulary has \(tokens.count) tokens")
            }
            return id
        }
        bos = try id("tokenizer.ggml.bos_token_id")
        eos = try id("tokenizer.ggml.eos_token_id")
        unknown = try id("tokenizer.ggml.unknown_token_id")
        padding = try id("tokenizer.ggml.padding_token_id")
        chatTemplate = metadata["tokenizer.chat_template"]?.string
        // llama.cpp's defaults: SentencePiece vocabularies add BOS unless told otherwise.
        let isSentencePiece = if case .sentencePiece = kind { true } else { false }
        addBOS = metadata["tokenizer.ggml.add_bos_token"]?.bool ?? isSentencePiece
        addEOS = metadata["tokenizer.ggml.add_eos_token"]?.bool ?? false
        if case .byteLevel(_, let pre) = kind { _ = try Self.byteLevelPreTokenizer(pre, file: file.path) }
    }

    /// Every merge is two tokens of the vocabulary whose join is one too, as `tokenizers` checks
    /// when it loads a BPE model (`MergeTokenOutOfVocabulary`): a merge that is not would make a
    /// tokenizer.json nobody can load.
    static func checkMerges(_ merges: [String], tokens: [String], file: String) throws {
        let vocabulary = Set(tokens)
        for (index, merge) in merges.enumerated() {
            let parts = merge.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw GGUFError(.badMetadata, file: file, "tokenizer.ggml.merges[\(index)] \"\(GGUFError.shown(merge))\" is not two tokens separated by one space")
            }
            for token in [String(parts[0]), String(parts[1]), String(parts[0] + parts[1])] where !vocabulary.contains(token) {
                throw GGUFError(.badMetadata, file: file, "tokenizer.ggml.merges[\(index)] \"\(GGUFError.shown(merge))\": \"\(GGUFError.shown(token))\" is not in tokenizer.ggml.tokens")
            }
        }
    }

    static func byteLevelPreTokenizer(_ pre: String, file: String = "") throws -> [String: Any] {
        let byteLevel: (Bool) -> [String: Any] = { ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": $0] }
        let split: (String) -> [String: Any] = { ["type": "Split", "pattern": ["Regex": $0], "behavior": "Isolated", "invert": false] }
        switch pre {
        case "smollm": return ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel(true)]]
        case "gpt2", "default": return byteLevel(true)
        case "llama-bpe", "llama3": return ["type": "Sequence", "pretokenizers": [split(llama3Pattern), byteLevel(false)]]
        case "qwen2": return ["type": "Sequence", "pretokenizers": [split(qwen2Pattern), byteLevel(false)]]
        default:
            throw GGUFError(.unsupportedModel, file: file, "tokenizer.ggml.pre \"\(pre)\" is not supported; supported: smollm, gpt2, default, llama-bpe, llama3, qwen2")
        }
    }

    func tokenizerJSON() throws -> [String: Any] {
        var vocabulary: [String: Int] = [:]
        for (id, token) in tokens.enumerated() where vocabulary[token] == nil { vocabulary[token] = id }
        let added: [[String: Any]] = tokens.indices.filter { [TokenType.unknown, TokenType.control, TokenType.userDefined].contains(types[$0]) }.map { id in
            ["id": id, "content": tokens[id], "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": false, "special": types[id] != TokenType.userDefined]
        }
        var spec: [String: Any] = ["version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added]
        switch kind {
        case .byteLevel(let merges, let pre):
            spec["normalizer"] = NSNull()
            spec["pre_tokenizer"] = try Self.byteLevelPreTokenizer(pre)
            spec["post_processor"] = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true]
            spec["decoder"] = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true]
            spec["model"] = bpeModel(vocabulary: vocabulary, merges: merges, byteFallback: false)
        case .sentencePiece(let scores, let addSpacePrefix):
            // SentencePiece's dummy prefix: "▁" before the text, every space a "▁" (Llama 2's own
            // tokenizer.json). tokenizers applies the normalizer to each stretch between added
            // tokens, so after a user-defined token the prefix comes back where sentencepiece
            // has none; Metaspace(prepend_scheme "first") avoids that but drops the prefix when
            // the text starts with a space, which is far more common.
            let replace: [String: Any] = ["type": "Replace", "pattern": ["String": " "], "content": "▁"]
            spec["normalizer"] = addSpacePrefix ? ["type": "Sequence", "normalizers": [["type": "Prepend", "prepend": "▁"], replace]] : replace
            spec["pre_tokenizer"] = NSNull()
            spec["post_processor"] = templateProcessing() ?? NSNull()
            var decoders: [[String: Any]] = [["type": "Replace", "pattern": ["String": "▁"], "content": " "], ["type": "ByteFallback"], ["type": "Fuse"]]
            if addSpacePrefix { decoders.append(["type": "Strip", "content": " ", "start": 1, "stop": 0]) }
            spec["decoder"] = ["type": "Sequence", "decoders": decoders]
            let merges = Self.sentencePieceMerges(tokens: tokens, scores: scores, types: types).map { [tokens[$0.left], tokens[$0.right]] }
            spec["model"] = bpeModel(vocabulary: vocabulary, merges: merges, byteFallback: true)
        }
        return spec
    }

    private func bpeModel(vocabulary: [String: Int], merges: [Any], byteFallback: Bool) -> [String: Any] {
        ["type": "BPE", "dropout": NSNull(), "unk_token": unknown.map { tokens[$0] } ?? NSNull(),
         "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(), "fuse_unk": byteFallback,
         "byte_fallback": byteFallback, "ignore_merges": false, "vocab": vocabulary, "merges": merges]
    }

    /// BOS before and EOS after each sequence, as `add_bos_token` / `add_eos_token` ask.
    private func templateProcessing() -> [String: Any]? {
        let bosToken = addBOS ? bos.map { tokens[$0] } : nil
        let eosToken = addEOS ? eos.map { tokens[$0] } : nil
        guard bosToken != nil || eosToken != nil else { return nil }
        let special: (String) -> [String: Any] = { ["SpecialToken": ["id": $0, "type_id": 0]] }
        let sequence: (String, Int) -> [String: Any] = { ["Sequence": ["id": $0, "type_id": $1]] }
        let wrap: ([[String: Any]]) -> [[String: Any]] = { (bosToken.map { [special($0)] } ?? []) + $0 + (eosToken.map { [special($0)] } ?? []) }
        var specials: [String: Any] = [:]
        for (token, id) in [(bosToken, bos), (eosToken, eos)] { if let token, let id { specials[token] = ["id": token, "ids": [id], "tokens": [token]] } }
        return ["type": "TemplateProcessing", "single": wrap([sequence("A", 0)]), "pair": wrap([sequence("A", 0)]) + wrap([sequence("B", 1)]),
                "special_tokens": specials]
    }

    func tokenizerConfig() -> [String: Any] {
        var config: [String: Any] = ["add_bos_token": addBOS, "add_eos_token": addEOS, "clean_up_tokenization_spaces": false]
        switch kind {
        case .byteLevel: (config["tokenizer_class"], config["add_prefix_space"]) = ("GPT2Tokenizer", false)
        case .sentencePiece: config["tokenizer_class"] = "PreTrainedTokenizerFast"
        }
        for (key, id) in [("bos_token", bos), ("eos_token", eos), ("unk_token", unknown), ("pad_token", padding)] {
            if let id { config[key] = tokens[id] }
        }
        if let chatTemplate { config["chat_template"] = chatTemplate }
        return config
    }
}
