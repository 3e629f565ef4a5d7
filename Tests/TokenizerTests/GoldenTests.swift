import Foundation
import Testing
@testable import Tokenizer

/// Token-for-token equality with the `tokenizers` library, on every tokenizer kind the fixtures
/// cover, for the varied test text, each of its lines, a KJV chapter, and edge cases.
@Suite("tokenizers goldens")
struct GoldenTests {
    static let names = [
        "gpt2-bytelevel", "roberta-prefix", "llama3-split", "qwen2-nfc",
        "llama2-bytefallback", "mistral-metaspace", "sentencepiece-unk", "smollm2", "smollm2-digits",
        "smollm2-bytefallback", "partial-bytefallback", "partial-bytefallback-unfused",
    ]

    @Test("encode matches the reference id for id", arguments: names)
    func encode(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        let golden = try Fixtures.golden(name)
        #expect(tokenizer.vocabularySize == golden.vocabularySize)
        var failures = 0
        for item in golden.cases {
            let ids = tokenizer.encode(item.text)
            if ids != item.ids {
                failures += 1
                Issue.record("\(name): \(item.text.debugDescription.prefix(120))\n\(firstDifference(tokenizer, expected: item.ids, found: ids))")
                if failures >= 5 { break }
            }
        }
    }

    @Test("decode matches the reference", arguments: names)
    func decode(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        let golden = try Fixtures.golden(name)
        for item in golden.cases {
            let decoded = item.decoded ?? item.text
            #expect(tokenizer.decode(item.ids) == decoded, "\(name): \(item.text.debugDescription.prefix(120))")
            #expect(tokenizer.decode(item.ids, skipSpecialTokens: true) == item.decodedSkippingSpecial ?? decoded,
                    "\(name), skipping special tokens: \(item.text.debugDescription.prefix(120))")
        }
        // Prefixes that cut multi-byte characters, and ids in scrambled order.
        for item in golden.decodes {
            #expect(tokenizer.decode(item.ids) == item.decoded, "\(name): ids \(item.ids.prefix(12))…")
        }
    }

    @Test("the post-processor adds the template's special tokens", arguments: names)
    func specialTokens(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        for item in try Fixtures.golden(name).withSpecialTokens {
            #expect(tokenizer.encode(item.text, addSpecialTokens: true) == item.ids, "\(name): \(item.text.debugDescription)")
        }
    }

    @Test("a batch shares its cache and gives the same ids as single calls")
    func batch() throws {
        let tokenizer = try Fixtures.tokenizer("smollm2-digits")
        let golden = try Fixtures.golden("smollm2-digits")
        let texts = golden.cases.map(\.text)
        #expect(tokenizer.encode(texts) == golden.cases.map(\.ids))
    }
}
