import Foundation

/// A BPE tokenizer read from a Hugging Face `tokenizer.json`, producing the same ids as the
/// `tokenizers` library: byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM: ByteLevel or Split
/// pre-tokenizers, merges by rank, `ignore_merges`) and SentencePiece-style BPE (Llama 2,
/// Mistral: "▁" for spaces through a normalizer or a Metaspace pre-tokenizer, `<0xNN>` byte
/// fallback, a fused unknown token).
///
/// Encoding runs as in the reference: added tokens are cut out of the raw text first, the rest
/// is normalized, normalized added tokens are cut out of that, the pre-tokenizer splits it into
/// pieces, and each piece is merged by the model. Unsupported components are refused at load
/// time with the field's path, never silently approximated.
public struct Tokenizer: Sendable {
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer
    let model: BytePairModel
    let rawMatcher: AddedTokenMatcher
    let normalizedMatcher: AddedTokenMatcher
    let addedByID: [Int32: AddedToken]
    let addedByContent: [String: AddedToken]
    let specialContents: Set<String>
    let postProcessor: PostProcessor?
    let decoder: Decoder?

    /// The tokens of `added_tokens`, in file order.
    public let addedTokens: [AddedToken]
    /// One more than the largest id of the vocabulary or the added tokens.
    public let vocabularySize: Int
    /// Beginning- and end-of-sequence ids: from `tokenizer_config.json` beside the file when it
    /// names them, otherwise the first added special token with a conventional name
    /// (`<|begin_of_text|>`, `<s>`, `<bos>`; `<|endoftext|>`, `<|end_of_text|>`, `</s>`, `<eos>`).
    /// Settable, for callers that know better (a GGUF's metadata).
    public var bosTokenID: Int32?
    public var eosTokenID: Int32?
    /// Where the tokenizer came from, for messages.
    public let source: String

    /// Reads `tokenizer.json` at `path`, or in `path` when it is a directory, and the BOS/EOS
    /// names of a `tokenizer_config.json` next to it if there is one.
    /// - Throws: `TokenizerError` naming the file and field when it is missing, malformed or uses
    ///   an unsupported component.
    public init(contentsOf path: String) throws {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let file = isDirectory.boolValue ? (path as NSString).appendingPathComponent("tokenizer.json") : path
        guard exists, let data = FileManager.default.contents(atPath: file) else {
            throw TokenizerError(file: file, "cannot read the file")
        }
        try self.init(json: data, source: file)
        let config = ((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent("tokenizer_config.json")
        if let configData = FileManager.default.contents(atPath: config) {
            try applyConfig(configData, file: config)
        }
    }

    /// Parses tokenizer.json content.
    /// - Parameter source: the name used in error messages.
    /// - Throws: `TokenizerError` as `init(contentsOf:)`.
    public init(json data: Data, source: String = "tokenizer.json") throws {
        let root: JSONObject
        do {
            root = try JSONObject(try JSONSerialization.jsonObject(with: data), path: "", file: source)
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw TokenizerError(file: source, "is not valid JSON: \(error.localizedDescription)")
        }
        self.source = source
        normalizer = try root.optionalObject("normalizer").map(Normalizer.init)
        preTokenizer = try PreTokenizer(root.optionalObject("pre_tokenizer"))
        model = try BytePairModel(root.object("model"), byteLevel: preTokenizer.byteLevel)
        postProcessor = try root.optionalObject("post_processor").map(PostProcessor.init)
        decoder = try root.optionalObject("decoder").map(Decoder.init)

        var added: [AddedToken] = []
        if !root.isNull("added_tokens") {
            for entry in try root.objects("added_tokens") {
                let id = try entry.int("id")
                guard let id32 = Int32(exactly: id), id32 >= 0, id < BytePairModel.idLimit else {
                    throw entry.error("id", "an id in 0..<\(BytePairModel.idLimit)")
                }
                let special = try entry.bool("special", default: false)
                added.append(AddedToken(
                    id: id32, content: try entry.string("content"), special: special,
                    normalized: try entry.bool("normalized", default: !special), singleWord: try entry.bool("single_word", default: false),
                    leftStrip: try entry.bool("lstrip", default: false), rightStrip: try entry.bool("rstrip", default: false)))
            }
        }
        addedTokens = added
        addedByID = Dictionary(added.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        addedByContent = Dictionary(added.map { ($0.content, $0) }, uniquingKeysWith: { _, last in last })
        specialContents = Set(added.filter(\.special).map(\.content))
        rawMatcher = AddedTokenMatcher(added.filter { !$0.normalized }) { $0.content }
        let normalizer = self.normalizer
        normalizedMatcher = AddedTokenMatcher(added.filter(\.normalized)) { token in
            normalizer.map { String(decoding: $0.apply(Array(token.content.utf8)), as: UTF8.self) } ?? token.content
        }
        vocabularySize = max(model.tokens.count, Int(added.map(\.id).max() ?? -1) + 1)
        bosTokenID = Self.firstSpecial(["<|begin_of_text|>", "<s>", "<bos>"], in: added)
        eosTokenID = Self.firstSpecial(["<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"], in: added)
    }

    private static func firstSpecial(_ names: [String], in added: [AddedToken]) -> Int32? {
        for name in names { if let token = added.first(where: { $0.special && $0.content == name }) { return token.id } }
        return nil
    }

    /// `bos_token` / `eos_token` of tokenizer_config.json: a string or `{"content": …}`.
    /// (Package access for the `tokenizer-config` fuzz target, which applies configs to one parsed tokenizer.)
    /// - Throws: `TokenizerError` naming `file` and the token it does not know.
    package mutating func applyConfig(_ data: Data, file: String) throws {
        let config = try JSONObject(try? JSONSerialization.jsonObject(with: data), path: "", file: file)
        func name(_ key: String) -> String? {
            if let text = config.fields[key] as? String { return text }
            return (config.fields[key] as? [String: Any])?["content"] as? String
        }
        for (key, keyPath) in [("bos_token", \Tokenizer.bosTokenID), ("eos_token", \Tokenizer.eosTokenID)] {
            guard let tokenName = name(key) else { continue }
            guard let id = id(forToken: tokenName) else {
                throw TokenizerError(file: file, "\(key) \"\(tokenName)\" is not a token of \(source)")
            }
            self[keyPath: keyPath] = id
        }
    }

    // MARK: Lookup

    /// The id of a token string (added tokens first, then the model's vocabulary).
    public func id(forToken token: String) -> Int32? {
        addedByContent[token]?.id ?? model.ids[token]
    }

    /// The token string of an id, as tokenizer.json spells it.
    public func token(forID id: Int32) -> String? {
        if let added = addedByID[id] { return added.content }
        guard id >= 0, Int(id) < model.tokens.count else { return nil }
        return model.tokens[Int(id)] ?? nil
    }
}
