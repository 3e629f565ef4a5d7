import ArgumentParser
import Foundation
import Tokenizer

/// Tokenizer throughput (tokens/s, MB/s of text) next to memcpy of the same bytes and, when the
/// project's Python environment has it, the `tokenizers` library on the same text in the same run.
struct TokenizerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "encode/decode throughput of a tokenizer.json next to memcpy and Python tokenizers.")

    @Option(help: "tokenizer.json (or a directory holding one).")
    var tokenizer = "Tests/TokenizerTests/Fixtures/tokenizers/smollm2.json"

    @Option(help: "Text file to encode; default: Genesis–Deuteronomy from the `bible` program, else the test fixtures repeated.")
    var text: String?

    @Option(help: "Repetitions; the fastest is reported.")
    var repetitions = 3

    @Option(help: "Python with the tokenizers package, for the in-run reference.")
    var python = ".venv/bin/python"

    func run() throws {
        let loadStart = now()
        let tokenizer = try Tokenizer(contentsOf: self.tokenizer)
        let loadSeconds = now() - loadStart
        let (textPath, source) = try benchmarkText()
        defer { if textPath != text { try? FileManager.default.removeItem(atPath: textPath) } }
        let text = try String(contentsOfFile: textPath, encoding: .utf8)
        let bytes = text.utf8.count
        print("tokenizer \(self.tokenizer) (vocabulary \(tokenizer.vocabularySize), loaded in \(format(loadSeconds * 1000, 0)) ms)")
        print("text: \(source), \(format(Double(bytes) / 1e6)) MB; fastest of \(repetitions)")

        var source8 = Array(text.utf8)
        var target8 = [UInt8](repeating: 0, count: bytes)
        let copySeconds = fastest(of: repetitions) { r in
            source8[r] = UInt8(truncatingIfNeeded: r)
            source8.withUnsafeBytes { s in target8.withUnsafeMutableBytes { $0.copyMemory(from: s) } }
        }
        print("  \(pad("memcpy (reference)", 26)) \(pad(format(Double(bytes) / copySeconds / 1e9) + " GB/s", 14))")

        var ids: [Int32] = []
        let encodeSeconds = fastest(of: repetitions) { r in
            ids = tokenizer.encode(r % 2 == 0 ? text : text + " ")
        }
        let tokens = ids.count
        print("  \(pad("encode", 26)) \(pad(format(Double(tokens) / encodeSeconds / 1e6) + " M tokens/s", 18)) \(format(Double(bytes) / encodeSeconds / 1e6)) MB/s  (\(tokens) tokens)")

        var decoded = ""
        let decodeSeconds = fastest(of: repetitions) { r in
            decoded = tokenizer.decode(r % 2 == 0 ? ids : Array(ids.dropLast()))
        }
        print("  \(pad("decode", 26)) \(pad(format(Double(tokens) / decodeSeconds / 1e6) + " M tokens/s", 18)) \(format(Double(bytes) / decodeSeconds / 1e6)) MB/s  (round trip \(decoded.utf8.count >= bytes - 8 ? "complete" : "SHORT"))")

        if let reference = pythonReference(textPath: textPath) {
            let match = reference.checksum == Self.checksum(tokenizer.encode(text)) ? "identical ids" : "DIFFERENT ids (\(reference.tokens) tokens)"
            print("  \(pad("python tokenizers encode", 26)) \(pad(format(Double(reference.tokens) / reference.seconds / 1e6) + " M tokens/s", 18)) \(format(Double(bytes) / reference.seconds / 1e6)) MB/s  (whole text in one call; \(match); this encode is \(format(reference.seconds / encodeSeconds))× its speed)")
            print("  \(pad("python encode_batch", 26)) \(pad(format(Double(reference.batchTokens) / reference.batchSeconds / 1e6) + " M tokens/s", 18)) \(format(Double(bytes) / reference.batchSeconds / 1e6)) MB/s  (line by line, all cores; this encode, one core, is \(format(reference.batchSeconds / encodeSeconds))× its speed)")
        } else {
            print("  python tokenizers: not available at \(python)")
        }
    }

    /// The text file and a description of it.
    private func benchmarkText() throws -> (String, String) {
        if let text { return (text, text) }
        let path = NSTemporaryDirectory() + "calibrate-bench-text-\(getpid()).txt"
        if let output = try? runProcess("/usr/bin/bible", ["-f", "Gen1:1-Deu34:12"]), output.count > 100_000 {
            let verses = output.split(separator: "\n").map { line in line.split(separator: " ", maxSplits: 1).last.map(String.init) ?? "" }
            try (verses.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return (path, "KJV Genesis–Deuteronomy (bible -f)")
        }
        let fixtures = "Tests/TokenizerTests/Fixtures/text/"
        let sample = try String(contentsOfFile: fixtures + "varied.txt", encoding: .utf8) + String(contentsOfFile: fixtures + "kjv.txt", encoding: .utf8)
        try String(repeating: sample, count: 200).write(toFile: path, atomically: true, encoding: .utf8)
        return (path, "test fixtures varied.txt + kjv.txt × 200")
    }

    /// Σ (i + 1) · id_i mod 2⁶¹ − 1: equal ids give equal sums (the Python side computes the same).
    static func checksum(_ ids: [Int32]) -> UInt64 {
        let modulus: UInt64 = (1 << 61) - 1
        var sum: UInt64 = 0
        for (index, id) in ids.enumerated() { sum = (sum + UInt64(index + 1) % modulus * UInt64(id) % modulus) % modulus }
        return sum
    }

    /// Seconds, token count and id checksum of the Rust tokenizers library on the same file
    /// (fastest of the same number of repetitions), and seconds and tokens of `encode_batch` over
    /// its lines (parallel on every core), or nil without a Python that has it.
    private func pythonReference(textPath: String) -> (seconds: Double, tokens: Int, checksum: UInt64, batchSeconds: Double, batchTokens: Int)? {
        guard FileManager.default.isExecutableFile(atPath: python) else { return nil }
        let script = """
            import sys, time
            from tokenizers import Tokenizer
            path = sys.argv[1]
            import os
            if os.path.isdir(path): path = os.path.join(path, "tokenizer.json")
            t = Tokenizer.from_file(path)
            text = open(sys.argv[2], encoding="utf-8").read()
            best = 1e9
            for r in range(int(sys.argv[3])):
                start = time.perf_counter()
                ids = t.encode(text if r % 2 == 0 else text + " ", add_special_tokens=False).ids
                best = min(best, time.perf_counter() - start)
                if r == 0: first = ids
            m = (1 << 61) - 1
            lines = text.splitlines(keepends=True)
            batch = 1e9
            for r in range(int(sys.argv[3])):
                start = time.perf_counter()
                count = sum(len(e.ids) for e in t.encode_batch(lines, add_special_tokens=False))
                batch = min(batch, time.perf_counter() - start)
            print(best, len(first), sum((i + 1) * x for i, x in enumerate(first)) % m, batch, count)
            """
        guard let output = try? runProcess(python, ["-c", script, tokenizer, textPath, String(repetitions)]) else { return nil }
        let fields = output.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard fields.count == 5, let seconds = Double(fields[0]), let tokens = Int(fields[1]), let checksum = UInt64(fields[2]),
              let batchSeconds = Double(fields[3]), let batchTokens = Int(fields[4]) else { return nil }
        return (seconds, tokens, checksum, batchSeconds, batchTokens)
    }

    private func runProcess(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CleanExit.message("\(executable) failed") }
        return String(decoding: data, as: UTF8.self)
    }
}
