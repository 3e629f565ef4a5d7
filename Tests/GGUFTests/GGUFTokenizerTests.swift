import Foundation
@testable import GGUF
import Testing
import Tokenizer

/// Tokenizers built from GGUF metadata. The SentencePiece one ("llama") against Google's
/// `sentencepiece` library, which trained it (fixtures: Tests/Reference/make_spm_gguf_fixture.py).
@Suite("GGUF tokenizers")
struct GGUFTokenizerTests {
    struct Golden: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int32]
            let decoded: String?
        }

        let vocabularySize: Int
        let bos: Int32
        let eos: Int32
        let cases: [Case]
    }

    static func sentencePiece() throws -> (Tokenizer, Golden) {
        let spec = try GGUFTokenizer(try GGUFFile(path: GGUFTests.fixture("spm_tokenizer.gguf"))).tokenizerJSON()
        let tokenizer = try Tokenizer(json: try JSONSerialization.data(withJSONObject: spec), source: "spm_tokenizer.gguf")
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: GGUFTests.fixture("spm_tokenizer.golden.json"))))
        return (tokenizer, golden)
    }

    @Test("a SentencePiece vocabulary encodes and decodes as sentencepiece does")
    func sentencePieceGoldens() throws {
        let (tokenizer, golden) = try Self.sentencePiece()
        #expect(tokenizer.vocabularySize == golden.vocabularySize)
        #expect(golden.cases.count > 50)
        for item in golden.cases {
            #expect(tokenizer.encode(item.text) == item.ids, "\(item.text.debugDescription.prefix(120))")
            #expect(tokenizer.decode(item.ids, skipSpecialTokens: true) == item.decoded ?? item.text, "\(item.text.debugDescription.prefix(120))")
        }
    }

    @Test("BOS is added as add_bos_token says; control tokens are special")
    func sentencePieceSpecials() throws {
        let (tokenizer, golden) = try Self.sentencePiece()
        let plain = tokenizer.encode("In the beginning")
        #expect(tokenizer.encode("In the beginning", addSpecialTokens: true) == [golden.bos] + plain)
        #expect(tokenizer.bosTokenID == golden.bos && tokenizer.eosTokenID == golden.eos)
        #expect(tokenizer.encode("</s>") == [golden.eos])
        #expect(tokenizer.decode([golden.bos] + plain + [golden.eos], skipSpecialTokens: true) == "In the beginning")
    }

    @Test("a user-defined piece is matched whole, not built from merges")
    func userDefined() throws {
        let (tokenizer, _) = try Self.sentencePiece()
        let tool = try #require(tokenizer.id(forToken: "<|tool|>"))
        #expect(tokenizer.encode("a<|tool|>b").filter { $0 == tool }.count == 1)
        #expect(tokenizer.encode("<|tool|><|tool|>") == [tool, tool])
    }

    @Test("merges come from scores: the higher-scoring piece joins first; only NORMAL pieces take part")
    func mergesFromScores() {
        // a b c ab bc abc <0x61> — "bc" outscores "ab", so "abc" is reached through (a, bc) first.
        let tokens = ["a", "b", "c", "ab", "bc", "abc", "<0x61>", "<ctl>"]
        let scores: [Float] = [-10, -11, -12, -3, -2, -1, 0, 0]
        let types = [1, 1, 1, 1, 1, 1, 6, 3]
        let merges = GGUFTokenizer.sentencePieceMerges(tokens: tokens, scores: scores, types: types)
        #expect(merges == [
            .init(left: 0, right: 4, joined: 5), .init(left: 3, right: 2, joined: 5),
            .init(left: 1, right: 2, joined: 4), .init(left: 0, right: 1, joined: 3),
        ])
    }
}
