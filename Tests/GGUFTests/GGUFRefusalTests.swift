import Foundation
@testable import GGUF
import Testing

/// What a GGUF file gets wrong is refused before anything is written or dequantized, and the
/// error shows what the file holds without echoing a corrupt name whole.
@Suite("GGUF refusals")
struct GGUFRefusalTests {
    /// tiny_llama.gguf with `edit` applied to its bytes, in a file of its own.
    static func edited(_ edit: (inout [UInt8]) throws -> Void) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: GGUFTests.fixture("tiny_llama.gguf"))))
        try edit(&bytes)
        let path = NSTemporaryDirectory() + "calibrate-gguf-\(UUID().uuidString).gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The offset of the value of metadata `key` (after its length-prefixed name and u32 type).
    static func valueOffset(of key: String, in bytes: [UInt8]) throws -> Int {
        let needle = Array(key.utf8)
        guard let start = (0...(bytes.count - needle.count)).first(where: { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }) else {
            throw GGUFError(.badMetadata, file: "tiny_llama.gguf", "no key \(key)")
        }
        return start + needle.count + 4
    }

    static func importing(_ path: String) throws -> (GGUFError?, directory: String) {
        let directory = NSTemporaryDirectory() + "calibrate-gguf-out-\(UUID().uuidString)"
        let error = #expect(throws: GGUFError.self) { try GGUFImport.run(try GGUFFile(path: path), to: directory) }
        return (error, directory)
    }

    @Test("an unknown tokenizer model is refused before the output directory is created")
    func unknownTokenizer() throws {
        let path = try Self.edited { bytes in
            let value = try Self.valueOffset(of: "tokenizer.ggml.model", in: bytes) + 8  // after the string's length
            bytes[value + 2] = UInt8(ascii: "X")  // "gpt2" → "gpX2"
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (error, directory) = try Self.importing(path)
        #expect(error?.code == .unsupportedModel && error?.message.contains("tokenizer.ggml.model \"gpX2\" is not supported") == true, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test("a head count near 2³² is refused from the metadata, before any tensor is dequantized", arguments: [UInt32.max, 1 << 31, 5000])
    func hugeHeadCount(_ heads: UInt32) throws {
        let path = try Self.edited { bytes in
            let value = try Self.valueOffset(of: "llama.attention.head_count", in: bytes)
            #expect(bytes[value - 4] == 4, "head_count is a u32")
            withUnsafeBytes(of: heads.littleEndian) { for (i, byte) in $0.enumerated() { bytes[value + i] = byte } }
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let started = ContinuousClock.now
        let (error, directory) = try Self.importing(path)
        #expect(error?.code == .badMetadata && error?.message.contains("num_attention_heads") == true, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: directory))
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test("a key whose length is corrupted is refused at 65535 bytes, and no error echoes more than 80 characters of a name")
    func corruptKeyLength() throws {
        let path = try Self.edited { bytes in
            // GGUF v3: magic, version, tensor count, metadata count, then the first key's length.
            withUnsafeBytes(of: UInt64(5_000_000).littleEndian) { for (i, byte) in $0.enumerated() { bytes[24 + i] = byte } }
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: GGUFError.self) { _ = try GGUFFile(path: path) }
        #expect(error?.message.contains("claims 5000000 bytes; at most 65535 are allowed") == true, "\(String(describing: error))")
        let long = String(repeating: "\u{1}x", count: 2_500_000)
        let shown = GGUFError.shown(long)
        #expect(shown.count < 200 && shown.hasSuffix("… (5000000 bytes)") && shown.hasPrefix("\\u{01}x"), "\(shown.prefix(200))")
        #expect(GGUFError.shown("blk.0.attn_q.weight") == "blk.0.attn_q.weight")
    }

    @Test("a merge naming a token the vocabulary lacks is refused (tokenizers would not load the tokenizer.json)")
    func merges() throws {
        let tokens = ["a", "b", "ab", "c"]
        try GGUFTokenizer.checkMerges(["a b", "ab c"].dropLast(), tokens: tokens, file: "f.gguf")
        let cases: [(String, String)] = [("a z", "\"z\" is not in tokenizer.ggml.tokens"), ("a c", "\"ac\" is not in tokenizer.ggml.tokens"),
                                         ("ab", "is not two tokens"), ("a  b", "is not two tokens"), (" a", "is not two tokens")]
        for (merge, message) in cases {
            let error = #expect(throws: GGUFError.self) { try GGUFTokenizer.checkMerges(["a b", merge], tokens: tokens, file: "f.gguf") }
            #expect(error?.message.contains("tokenizer.ggml.merges[1] \"\(merge)\"") == true && error?.message.contains(message) == true, "\(merge): \(String(describing: error))")
        }
    }
}
