import ArgumentParser
@testable import CoordinatorCLI
import Foundation
import Testing

/// `import-gguf` writes a model whole or not at all: a failed import leaves nothing, a
/// re-import needs --overwrite and replaces the earlier one entirely.
@Suite("import-gguf writes whole models")
struct ImportGGUFTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("GGUFTests/Fixtures/tiny_llama.gguf").path

    static func run(_ arguments: [String]) throws {
        let command = try ImportGGUF.parse(arguments)
        try command.run()
    }

    /// What `parent` holds besides `name`: staging or set-aside directories left behind.
    static func leftovers(in parent: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.contains(".partial-") || $0.contains(".replaced-") }
    }

    @Test("an import, a refused re-import, a re-import with --overwrite that replaces everything, and a failed import that leaves nothing")
    func wholeOrNothing() throws {
        let parent = NSTemporaryDirectory() + "calibrate-import-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let out = parent + "/model"
        try Self.run([Self.fixture, "--out", out])
        for file in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
        }
        let refused = #expect(throws: ValidationError.self) { try Self.run([Self.fixture, "--out", out]) }
        #expect(refused?.message.contains("is not empty") == true, "\(String(describing: refused))")
        try "stale".write(toFile: out + "/stale.txt", atomically: true, encoding: .utf8)
        try Self.run([Self.fixture, "--out", out, "--overwrite"])
        #expect(!FileManager.default.fileExists(atPath: out + "/stale.txt"), "the earlier import was not replaced whole")
        #expect(FileManager.default.fileExists(atPath: out + "/model.safetensors"))

        // A file whose tokenizer is unknown: the import fails, and neither --out nor a staging directory remains.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.fixture)))
        let key = Array("tokenizer.ggml.model".utf8)
        let start = try #require((0...(bytes.count - key.count)).first { bytes[$0..<($0 + key.count)].elementsEqual(key) })
        bytes[start + key.count + 4 + 8 + 2] = UInt8(ascii: "X")
        let broken = parent + "/broken.gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: broken))
        #expect(throws: (any Error).self) { try Self.run([broken, "--out", parent + "/failed"]) }
        #expect(!FileManager.default.fileExists(atPath: parent + "/failed"))
        #expect(throws: (any Error).self) { try Self.run([broken, "--out", out, "--overwrite"]) }
        #expect(FileManager.default.fileExists(atPath: out + "/model.safetensors"), "a failed re-import removed the earlier import")
        let leftovers = try Self.leftovers(in: parent)
        #expect(leftovers.isEmpty, "\(leftovers)")
    }
}
