import Datasets
import Foundation
import Testing
import Tokenizer

/// A byte-level tokenizer without merges: one token per byte (ids 0…255), `<|endoftext|>` 256,
/// so token counts of a text are its UTF-8 byte counts.
enum ByteTokenizer {
    static func make() throws -> Tokenizer {
        // The GPT-2 byte-to-character map (bytes_to_unicode), written out independently of the
        // Tokenizer module's own table.
        var vocab: [String: Int] = [:]
        var next = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            let scalar = printable ? byte : next
            if !printable { next += 1 }
            vocab[String(Character(Unicode.Scalar(UInt32(scalar))!))] = byte
        }
        let spec: [String: Any] = [
            "added_tokens": [["id": 256, "content": "<|endoftext|>", "special": true, "normalized": false]],
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
            "decoder": ["type": "ByteLevel"],
            "model": ["type": "BPE", "vocab": vocab, "merges": [String]()],
        ]
        return try Tokenizer(json: JSONSerialization.data(withJSONObject: spec), source: "bytes.json")
    }
}

@Suite("calibration and evaluation data")
struct CalibrationDataTests {
    static func write(_ text: String) throws -> String {
        try write(Array(text.utf8))
    }

    static func write(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "calibration-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("file kinds are recognized by content", arguments: [
        ("[1, 2, 3]", DataFileKind.tokenIDs),
        ("  \n[1,2]\n", .tokenIDs),
        ("{\"text\": \"a\"}\n{\"text\": \"b\"}\n", .jsonLines),
        ("\n\n{\"text\": \"a\", \"id\": 3}", .jsonLines),
        ("Plain text.\nMore.", .text),
        ("[Chapter 1] begins here", .text),
        ("{ not json\nat all", .text),
        ("", .text),
    ])
    func kinds(content: String, kind: DataFileKind) {
        #expect(DataFile.kind(of: Data(content.utf8)) == kind)
    }

    @Test("an int32 .npy file is token ids")
    func npy() throws {
        let data = [Int32(5), 256, 7].flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        let bytes = NPYFile.make(descr: "<i4", shape: "(3,)", data: data)
        let path = try Self.write(bytes)
        let stream = try DataFile.tokens(path: path, tokenizer: ByteTokenizer.make())
        #expect(stream.kind == .tokenIDs)
        #expect(stream.tokens == [5, 256, 7])
    }

    @Test("text is tokenized whole; JSON lines per document with EOS between")
    func streams() throws {
        let tokenizer = try ByteTokenizer.make()
        let text = try DataFile.tokens(path: Self.write("héllo\nworld"), tokenizer: tokenizer)
        #expect(text.kind == .text)
        #expect(text.tokens == Array("héllo\nworld".utf8).map { Int32($0) })

        let lines = try DataFile.tokens(path: Self.write("{\"text\": \"ab\"}\n\n{\"text\": \"c\", \"meta\": 1}\n{\"text\": \"\"}\n"), tokenizer: tokenizer)
        #expect(lines.kind == .jsonLines)
        #expect(lines.documents == 3)
        #expect(lines.tokens == [97, 98, 256, 99, 256])

        let separated = try DataFile.tokens(path: Self.write("{\"text\": \"ab\"}\n{\"text\": \"c\"}"), tokenizer: tokenizer, documentSeparator: 10)
        #expect(separated.tokens == [97, 98, 10, 99])
    }

    @Test("bad inputs name the file and the problem", arguments: [
        ("{\"text\": \"a\"}\n{\"txt\": \"b\"}\n", "line 2 has no string field \"text\""),
        ("{\"text\": \"a\"}\nnot json\n", "line 2 is not a JSON object"),
        ("[1, 2, 300]", "token 2 is 300, outside the vocabulary [0, 257)"),
    ])
    func bad(content: String, message: String) throws {
        let path = try Self.write(content)
        let error = #expect(throws: DatasetError.self) { _ = try DataFile.tokens(path: path, tokenizer: ByteTokenizer.make()) }
        #expect(error?.file == path)
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
    }

    @Test("text without a tokenizer, and invalid UTF-8, are refused")
    func needsTokenizer() throws {
        let path = try Self.write("some text")
        let error = #expect(throws: DatasetError.self) { _ = try DataFile.tokens(path: path, tokenizer: nil) }
        #expect(error?.description.contains("holds text, which needs a tokenizer") == true)
        let invalid = try Self.write([0x61, 0x62, 0xFF, 0x63])
        let utf8Error = #expect(throws: DatasetError.self) { _ = try DataFile.tokens(path: invalid, tokenizer: ByteTokenizer.make()) }
        #expect(utf8Error?.description.contains("not valid UTF-8 text (bad byte sequence at byte 2)") == true, "\(String(describing: utf8Error))")
    }

    @Test("samples are distinct whole windows of the stream, in stream order")
    func sampling() throws {
        let tokens = (0..<1000).map { Int32($0) }
        let samples = try CalibrationData.sample(tokens, samples: 7, sequenceLength: 33, seed: 5, source: "t")
        #expect(samples.count == 7)
        let starts = samples.map { Int($0[0]) }
        #expect(Set(starts).count == 7)
        #expect(starts == starts.sorted())
        for sample in samples {
            #expect(sample.count == 33)
            #expect(Int(sample[0]) % 33 == 0)
            #expect(sample == (Int(sample[0])..<Int(sample[0]) + 33).map { Int32($0) })
        }
        #expect(try CalibrationData.sample(tokens, samples: 7, sequenceLength: 33, seed: 5, source: "t") == samples)
        #expect(try CalibrationData.sample(tokens, samples: 7, sequenceLength: 33, seed: 6, source: "t") != samples)
        // Every window when samples = windows.
        let all = try CalibrationData.sample(tokens, samples: 30, sequenceLength: 33, seed: 9, source: "t")
        #expect(all.map { Int($0[0]) } == (0..<30).map { $0 * 33 })
    }

    @Test("too little text says how much is needed and how much there is")
    func tooLittle() throws {
        let path = try Self.write(String(repeating: "x", count: 1000))
        let error = #expect(throws: DatasetError.self) {
            _ = try CalibrationData.load(path: path, tokenizer: ByteTokenizer.make(), samples: 4, sequenceLength: 512, seed: 0)
        }
        #expect(error?.file == path)
        #expect(error?.description.contains("4 samples of 512 tokens need 2048 tokens, but the file has 1000 (1 sequences)") == true,
                "\(String(describing: error))")
    }

    @Test("evaluation windows are consecutive, partial window dropped, optionally capped")
    func evaluation() throws {
        let path = try Self.write(String(repeating: "abcdefghij", count: 10))
        let tokenizer = try ByteTokenizer.make()
        let windows = try EvaluationData.windows(path: path, tokenizer: tokenizer, sequenceLength: 30)
        #expect(windows.count == 3)
        #expect(windows.joined().map { UInt8($0) } == Array(String(repeating: "abcdefghij", count: 9).utf8))
        #expect(try EvaluationData.windows(path: path, tokenizer: tokenizer, sequenceLength: 30, maxWindows: 2) == Array(windows.prefix(2)))
        let error = #expect(throws: DatasetError.self) { _ = try EvaluationData.windows(path: path, tokenizer: tokenizer, sequenceLength: 101) }
        #expect(error?.description.contains("needs 101 tokens, but the file has 100") == true)
    }
}
