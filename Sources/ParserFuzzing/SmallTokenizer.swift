import Foundation
import Tokenizer

/// A small byte-level BPE `tokenizer.json`, built here so that the targets needing a tokenizer
/// (tokenizer_config.json, text and JSON lines data files) do not read fixtures at run time:
/// GPT-2's 256 byte symbols, three merges ("Ġ t" → "Ġt", "h e" → "he", "Ġt he" → "Ġthe"), and
/// the special tokens `<s>` (256… ids after the bytes) and `</s>`.
enum SmallTokenizer {
    static let json: [UInt8] = {
        let symbols = byteSymbols()
        var vocabulary: [String: Int] = [:]
        for (index, symbol) in symbols.enumerated() { vocabulary[symbol] = index }
        for token in ["Ġt", "he", "Ġthe"] { vocabulary[token] = vocabulary.count }
        let object: [String: Any] = [
            "version": "1.0",
            "added_tokens": [
                ["id": vocabulary.count, "content": "<s>", "special": true, "normalized": false],
                ["id": vocabulary.count + 1, "content": "</s>", "special": true, "normalized": false],
            ],
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "vocab": vocabulary, "merges": ["Ġ t", "h e", "Ġt he"]],
        ]
        // Cannot fail: strings, numbers and containers only.
        return [UInt8](try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }()

    /// The tokenizer itself; it parses (a test checks `json`).
    static let tokenizer: Tokenizer = try! Tokenizer(json: Data(json), source: "small tokenizer.json")

    /// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes stand for themselves, the others are
    /// shifted to U+0100 onwards in byte order.
    static func byteSymbols() -> [String] {
        var shifted = 0
        return (0..<256).map { byte in
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            let scalar = printable ? byte : 256 + { defer { shifted += 1 }; return shifted }()
            return String(Character(Unicode.Scalar(UInt32(scalar))!))
        }
    }
}
