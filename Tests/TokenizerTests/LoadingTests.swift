import Foundation
import Testing
@testable import Tokenizer

/// Loading: files and directories, tokenizer_config.json, lookups, and bad files refused with
/// the field that is wrong.
@Suite("loading tokenizer.json")
struct LoadingTests {
    /// A byte-level tokenizer small enough to write by hand: the 256 byte tokens, "ab" and
    /// "abc", and two added tokens.
    static func smallSpec() -> [String: Any] {
        var vocab: [String: Int] = [:]
        for byte in 0..<256 { vocab[ByteLevelAlphabet.encode([UInt8(byte)])] = byte }
        vocab["ab"] = 256
        vocab["abc"] = 257
        return [
            "added_tokens": [
                ["id": 258, "content": "<|endoftext|>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false],
                ["id": 259, "content": "<|im_end|>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false],
            ],
            "normalizer": NSNull(),
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
            "post_processor": NSNull(),
            "decoder": ["type": "ByteLevel"],
            "model": ["type": "BPE", "vocab": vocab, "merges": ["a b", "ab c"]],
        ]
    }

    static func load(_ spec: [String: Any]) throws -> Tokenizer {
        try Tokenizer(json: JSONSerialization.data(withJSONObject: spec), source: "test.json")
    }

    @Test("a hand-written tokenizer: merges, added tokens, lookups")
    func small() throws {
        let tokenizer = try Self.load(Self.smallSpec())
        // " abd" is one piece: Ġ a b d → Ġ ab d (no merge with Ġ).
        #expect(tokenizer.encode("abc abd<|im_end|>") == [257, 32, 256, 100, 259])
        #expect(tokenizer.decode([257, 32, 256, 100, 259]) == "abc abd<|im_end|>")
        #expect(tokenizer.decode([257, 259], skipSpecialTokens: true) == "abc")
        #expect(tokenizer.vocabularySize == 260)
        #expect(tokenizer.id(forToken: "Ġ") == 32)
        #expect(tokenizer.id(forToken: "<|im_end|>") == 259)
        #expect(tokenizer.token(forID: 257) == "abc")
        #expect(tokenizer.token(forID: 999) == nil)
        #expect(tokenizer.eosTokenID == 258)
        #expect(tokenizer.bosTokenID == nil)
    }

    @Test("a directory with tokenizer_config.json sets BOS and EOS")
    func directory() throws {
        let directory = try Fixtures.temporaryDirectory("tokenizer")
        try JSONSerialization.data(withJSONObject: Self.smallSpec()).write(to: URL(fileURLWithPath: directory + "/tokenizer.json"))
        try Data(#"{"bos_token": "abc", "eos_token": {"content": "<|im_end|>"}}"#.utf8).write(to: URL(fileURLWithPath: directory + "/tokenizer_config.json"))
        let tokenizer = try Tokenizer(contentsOf: directory)
        #expect(tokenizer.bosTokenID == 257)
        #expect(tokenizer.eosTokenID == 259)
        #expect(tokenizer.source == directory + "/tokenizer.json")

        try Data(#"{"eos_token": "<nope>"}"#.utf8).write(to: URL(fileURLWithPath: directory + "/tokenizer_config.json"))
        let error = #expect(throws: TokenizerError.self) { _ = try Tokenizer(contentsOf: directory + "/tokenizer.json") }
        #expect(error?.description.contains("eos_token \"<nope>\" is not a token") == true, "\(String(describing: error))")
    }

    @Test("a missing file is named")
    func missing() {
        let error = #expect(throws: TokenizerError.self) { _ = try Tokenizer(contentsOf: "/nonexistent/tokenizer.json") }
        #expect(error?.file == "/nonexistent/tokenizer.json")
    }

    /// Each bad file, made by one edit of the small spec, and a fragment of the expected message.
    static let badFiles: [(String, @Sendable (inout [String: Any]) -> Void, String)] = [
        ("not JSON", { _ in }, "is not valid JSON"),
        ("unknown model", { $0["model"] = ["type": "Unigram", "vocab": []] }, "model.type: model \"Unigram\" is not supported"),
        ("merge of a missing token", { spec in
            var model = spec["model"] as! [String: Any]
            model["merges"] = ["a b", "q zz"]
            spec["model"] = model
        }, "model.merges[1]: \"zz\" is not in the vocabulary"),
        ("merge result missing", { spec in
            var model = spec["model"] as! [String: Any]
            model["merges"] = ["b c"]
            spec["model"] = model
        }, "model.merges[0]: the merged token \"bc\" is not in the vocabulary"),
        ("malformed merge", { spec in
            var model = spec["model"] as! [String: Any]
            model["merges"] = ["a b c"]
            spec["model"] = model
        }, "model.merges[0]: expected \"left right\", found \"a b c\""),
        ("unknown pre-tokenizer", { $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "Punctuation"]]] },
         "pre_tokenizer.pretokenizers[0].type: pre-tokenizer \"Punctuation\" is not supported"),
        ("pre-tokenizer after ByteLevel", { $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "ByteLevel"], ["type": "Digits"]]] },
         "pre_tokenizer.pretokenizers[1]: a Digits pre-tokenizer after ByteLevel is not supported"),
        ("bad split behavior", { $0["pre_tokenizer"] = ["type": "Split", "pattern": ["String": " "], "behavior": "Sideways"] },
         "pre_tokenizer.behavior: expected one of Removed"),
        ("regex that does not compile", { $0["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "(["], "behavior": "Isolated"] },
         "pre_tokenizer.pattern: the regex ([ does not compile"),
        ("unknown normalizer", { $0["normalizer"] = ["type": "BertNormalizer"] }, "normalizer.type: normalizer \"BertNormalizer\" is not supported"),
        ("unknown decoder", { $0["decoder"] = ["type": "WordPiece"] }, "decoder.type: decoder \"WordPiece\" is not supported"),
        ("added token without id", { $0["added_tokens"] = [["content": "<x>"]] }, "added_tokens[0].id: expected an integer, found nothing"),
        ("dropout", { spec in
            var model = spec["model"] as! [String: Any]
            model["dropout"] = 0.1
            spec["model"] = model
        }, "model.dropout: BPE dropout 0.1 is not supported"),
    ]

    @Test("bad files are refused with the field and the problem", arguments: 0..<badFiles.count)
    func bad(index: Int) throws {
        let (_, edit, message) = Self.badFiles[index]
        var spec = Self.smallSpec()
        edit(&spec)
        let data = index == 0 ? Data("{\"model\": ".utf8) : try JSONSerialization.data(withJSONObject: spec)
        let error = #expect(throws: TokenizerError.self) { _ = try Tokenizer(json: data, source: "bad.json") }
        #expect(error?.description.hasPrefix("bad.json: ") == true)
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
    }
}
