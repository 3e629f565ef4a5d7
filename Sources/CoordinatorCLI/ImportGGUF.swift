import ArgumentParser
import Foundation
import GGUF

/// `coordinator import-gguf FILE --out DIR`: a GGUF model as a Hugging Face checkpoint.
///
/// The import is written into a directory of its own beside `--out`, checked as eval loads a
/// model (every tensor config.json requires, with its shape; tokenizer.json loads), and only
/// then moved into place: a failed import leaves nothing, and a re-import replaces the earlier
/// one whole (never new weights beside an old tokenizer).
struct ImportGGUF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-gguf",
        abstract: "Convert a GGUF model (llama, qwen2, qwen3) into a Hugging Face checkpoint: F32 safetensors, config, tokenizer.")

    @Argument(help: "The .gguf file.")
    var file: String

    @Option(help: "Output directory (created; must be empty or absent unless --overwrite).")
    var out: String

    @Flag(help: "Replace what --out holds with the new import.")
    var overwrite = false

    func run() throws {
        let start = Date()
        let target = URL(fileURLWithPath: out).standardizedFileURL
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = manager.fileExists(atPath: target.path, isDirectory: &isDirectory)
        if exists {
            guard isDirectory.boolValue else { throw ValidationError("--out \(out) exists and is not a directory") }
            let contents = try manager.contentsOfDirectory(atPath: target.path).sorted()
            if !contents.isEmpty && !overwrite {
                throw ValidationError("--out \(out) is not empty (\(contents.prefix(4).joined(separator: ", "))\(contents.count > 4 ? ", …" : "")); "
                                      + "choose another directory, or pass --overwrite to replace what it holds")
            }
        }
        let gguf = try GGUFFile(path: file)
        let parent = target.deletingLastPathComponent()
        try manager.createDirectory(at: parent, withIntermediateDirectories: true)
        let pid = ProcessInfo.processInfo.processIdentifier
        let staging = parent.appendingPathComponent(".\(target.lastPathComponent).partial-\(pid)")
        try? manager.removeItem(at: staging)
        let summary: GGUFImport.Summary
        do {
            summary = try GGUFImport.run(gguf, to: staging.path)
            do {
                _ = try ModelInputs.weightSource(staging.path)
                _ = try ModelInputs.tokenizer(staging.path)
            } catch {
                throw ValidationError("\(file): the converted model would not load, so nothing was written to \(out): \(error)")
            }
            try Self.publish(staging, as: target, replacing: exists, pid: pid)
        } catch {
            try? manager.removeItem(at: staging)
            throw error
        }
        let model = summary.model
        print("imported \(file) → \(out): \(model.architecture), \(model.layers) layers, hidden \(model.hidden), heads \(model.heads)/\(model.kvHeads), "
              + "MLP \(model.intermediate), vocab \(model.vocabularySize); \(summary.tensors) tensors, \(summary.bytes / 1_000_000) MB F32 "
              + "in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }

    /// Moves the finished import into place: one rename onto an absent or empty directory; over
    /// an earlier import, the old one is renamed aside first and removed after.
    static func publish(_ staging: URL, as target: URL, replacing: Bool, pid: Int32) throws {
        if rename(staging.path, target.path) == 0 { return }
        guard replacing, errno == ENOTEMPTY || errno == EEXIST else {
            throw ValidationError("cannot move the import into \(target.path): \(String(cString: strerror(errno)))")
        }
        let aside = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).replaced-\(pid)")
        guard rename(target.path, aside.path) == 0 else {
            throw ValidationError("cannot move the earlier import at \(target.path) aside: \(String(cString: strerror(errno)))")
        }
        guard rename(staging.path, target.path) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = rename(aside.path, target.path)
            throw ValidationError("cannot move the import into \(target.path): \(reason)")
        }
        try? FileManager.default.removeItem(at: aside)
    }
}
