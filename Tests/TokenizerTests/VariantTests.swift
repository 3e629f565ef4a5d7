import Foundation
import Testing
@testable import Tokenizer

/// The GPT-2 test tokenizer with every Split behavior (inverted or not, through the
/// NSRegularExpression path), literal/Digits/WhitespaceSplit/prefix-space pre-tokenizers and the
/// other normalizers, against the `tokenizers` library (goldens/gpt2-variants.json).
@Suite("pre-tokenizer and normalizer variants")
struct VariantTests {
    struct Variants: Decodable {
        let texts: [String]
        let variants: [[String: AnyDecodable]]
    }

    /// Keeps a JSON value as Foundation objects, to splice a variant's configuration back into
    /// the tokenizer JSON.
    struct AnyDecodable: Decodable {
        let value: Any
        init(from decoder: any Swift.Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let bool = try? container.decode(Bool.self) { value = bool }
            else if let int = try? container.decode(Int.self) { value = int }
            else if let string = try? container.decode(String.self) { value = string }
            else if let array = try? container.decode([AnyDecodable].self) { value = array.map(\.value) }
            else if let object = try? container.decode([String: AnyDecodable].self) { value = object.mapValues(\.value) }
            else { value = NSNull() }
        }
    }

    @Test("each variant matches the reference")
    func variants() throws {
        let golden = try JSONDecoder().decode(Variants.self, from: Fixtures.data("goldens/gpt2-variants.json"))
        #expect(golden.variants.count == 20)
        for variant in golden.variants {
            try check(variant.mapValues(\.value), texts: golden.texts)
        }
    }

    private func check(_ variant: [String: Any], texts: [String]) throws {
        var configuration = variant
        let expected = configuration.removeValue(forKey: "ids") as! [[Any]]
        var spec = try JSONSerialization.jsonObject(with: Fixtures.data("tokenizers/gpt2-bytelevel.json")) as! [String: Any]
        spec.merge(configuration) { _, new in new }
        let label = String(decoding: try JSONSerialization.data(withJSONObject: configuration, options: [.sortedKeys]), as: UTF8.self)
        let tokenizer = try Tokenizer(json: JSONSerialization.data(withJSONObject: spec), source: label)
        for (text, ids) in zip(texts, expected) {
            let expectedIDs = ids.map { Int32($0 as! Int) }
            let found = tokenizer.encode(text)
            #expect(found == expectedIDs, "\(label)\n\(text.debugDescription.prefix(100))\n\(firstDifference(tokenizer, expected: expectedIDs, found: found))")
        }
    }
}
