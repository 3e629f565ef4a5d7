import Foundation
import Testing
@testable import Tokenizer

/// Fixture paths and loaders of the tokenizer tests.
enum Fixtures {
    /// `Tests/TokenizerTests/Fixtures/<name>` as copied into the test bundle.
    static func path(_ name: String) -> String {
        Bundle.module.resourcePath! + "/Fixtures/" + name
    }

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: path(name)))
    }

    static func text(_ name: String) throws -> String {
        String(decoding: try data("text/" + name), as: UTF8.self)
    }

    /// The tokenizer.json text of a test tokenizer. `smollm2-digits` is the committed
    /// smollm2.json with the pre-tokenizer the model's own tokenizer.json has (digits split one
    /// by one, then ByteLevel), the same replacement make_tokenizer_fixtures.py makes.
    /// A fixture's tokenizer.json; two are SmolLM2's with one change, made here as the fixture
    /// scripts make them: `smollm2-digits` (digits split first) and `smollm2-bytefallback`
    /// (`byte_fallback` set, as transformers writes byte-level vocabularies, with no byte tokens).
    static func tokenizerJSON(_ name: String) throws -> Data {
        guard name == "smollm2-digits" || name == "smollm2-bytefallback" else { return try data("tokenizers/\(name).json") }
        var spec = try JSONSerialization.jsonObject(with: try data("tokenizers/smollm2.json")) as! [String: Any]
        if name == "smollm2-digits" {
            spec["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Digits", "individual_digits": true],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            ]]
        } else {
            var model = spec["model"] as! [String: Any]
            model["byte_fallback"] = true
            spec["model"] = model
        }
        return try JSONSerialization.data(withJSONObject: spec)
    }

    static func tokenizer(_ name: String) throws -> Tokenizer {
        try Tokenizer(json: tokenizerJSON(name), source: "\(name).json")
    }

    static func golden(_ name: String) throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: data("goldens/\(name).json"))
    }

    /// A fresh empty directory under the system's temporary directory.
    static func temporaryDirectory(_ label: String) throws -> String {
        let path = NSTemporaryDirectory() + "calibrate-\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Expected encodings made by the `tokenizers` library (make_tokenizer_fixtures.py).
struct Golden: Decodable {
    struct Case: Decodable {
        let text: String
        let ids: [Int32]
        /// Absent where it equals `text`.
        let decoded: String?
        /// Absent where it equals the decoding with special tokens.
        let decodedSkippingSpecial: String?
    }

    struct SpecialCase: Decodable {
        let text: String
        let ids: [Int32]
    }

    struct Decode: Decodable {
        let ids: [Int32]
        let decoded: String
    }

    let vocabularySize: Int
    let cases: [Case]
    let withSpecialTokens: [SpecialCase]
    let decodes: [Decode]
}

/// A readable account of the first difference between two encodings.
func firstDifference(_ tokenizer: Tokenizer, expected: [Int32], found: [Int32]) -> String {
    let index = (0..<min(expected.count, found.count)).first { expected[$0] != found[$0] } ?? min(expected.count, found.count)
    func tokens(_ ids: [Int32]) -> String {
        ids[max(0, index - 3)..<min(ids.count, index + 5)].map { "\($0):\(tokenizer.token(forID: $0).debugDescription)" }.joined(separator: " ")
    }
    return "first difference at token \(index) of \(expected.count) expected / \(found.count) found\n"
        + "  expected … \(tokens(expected))\n  found    … \(tokens(found))"
}
