import Foundation

/// The directory a quantized checkpoint is written to, and the files around the tensors:
/// the refusal to overwrite an existing checkpoint, the tokenizer and generation files copied
/// from the source model, `config.json` with its `quantization_config`, JSON side files.
///
/// Order of writing (see `ShardedCheckpointWriter`): shards, side files, `config.json`, and the
/// index last; a directory without `model.safetensors.index.json` is an incomplete checkpoint.
public struct OutputDirectory: Sendable {
    public let path: String

    /// Files that make a directory a checkpoint, which `prepare` refuses to overwrite by default.
    static func isCheckpointFile(_ name: String) -> Bool {
        name == "config.json" || name == ShardIndex.fileName || name.hasSuffix(".safetensors")
    }

    /// Files never copied from the source model: its weights and its config (rewritten instead).
    static func isSourceWeightOrConfig(_ name: String) -> Bool {
        let weightSuffixes = [".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".h5", ".msgpack", ".index.json"]
        return name == "config.json" || weightSuffixes.contains { name.hasSuffix($0) } || name.hasPrefix(".")
    }

    /// The directory of an unfinished job, as it is (a resumed job checks its files itself).
    public init(existing path: String) {
        self.path = path
    }

    /// Creates the directory if needed and makes sure it holds no checkpoint.
    /// - Parameter overwrite: remove an existing checkpoint's files (weights, index, config,
    ///   calibrate's manifest and reports) instead of refusing.
    /// - Throws: `CheckpointError` naming the directory and the files found.
    public init(preparing path: String, overwrite: Bool) throws {
        self.path = path
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CheckpointError(.io, file: path, "exists and is not a directory") }
            let existing = try manager.contentsOfDirectory(atPath: path).sorted()
            let checkpoint = existing.filter { Self.isCheckpointFile($0) || $0.hasPrefix("calibrate-") || $0.contains(".partial-") || $0.hasSuffix(".pending") }
            if !checkpoint.isEmpty {
                guard overwrite else {
                    let shown = checkpoint.prefix(4).joined(separator: ", ") + (checkpoint.count > 4 ? ", …" : "")
                    throw CheckpointError(.io, file: path, "already holds a checkpoint (\(shown)); choose another --out or pass --overwrite")
                }
                for name in checkpoint { try manager.removeItem(atPath: (path as NSString).appendingPathComponent(name)) }
            }
        } else {
            do {
                try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw CheckpointError(.io, file: path, "cannot create the output directory: \(error.localizedDescription)")
            }
        }
        try checkWritable()
    }

    /// Checks that files can be created in the directory (a read-only filesystem, a directory
    /// without write permission) before any work is done for it.
    /// - Throws: `CheckpointError.io` naming the directory and the system's reason.
    public func checkWritable() throws {
        let probe = file(".calibrate-write-check-\(getpid())")
        let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CheckpointError(.io, file: path, "cannot write into the output directory: \(String(cString: strerror(errno)))")
        }
        close(fd)
        unlink(probe)
    }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Copies the source model's tokenizer, generation and other non-weight files.
    /// - Returns: the names copied, sorted.
    @discardableResult
    public func copyAuxiliaryFiles(from model: String) throws -> [String] {
        let manager = FileManager.default
        var copied: [String] = []
        for name in try manager.contentsOfDirectory(atPath: model).sorted() where !Self.isSourceWeightOrConfig(name) {
            let source = (model as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: source, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            guard let data = manager.contents(atPath: source) else { throw CheckpointError(.io, file: source, "cannot read") }
            try AtomicFile.write([UInt8](data), to: file(name))
            copied.append(name)
        }
        return copied
    }

    /// Writes `object` as pretty-printed JSON with sorted keys, atomically.
    public func writeJSON(_ object: Any, to name: String) throws {
        let data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        } catch {
            throw CheckpointError(.invalidValue, file: file(name), "cannot encode as JSON: \(error.localizedDescription)")
        }
        try AtomicFile.write([UInt8](data) + [UInt8(ascii: "\n")], to: file(name))
    }

    /// Writes the source model's `config.json` with `quantizationConfig` added as `quantization_config`.
    public func writeConfig(from model: String, quantizationConfig: [String: Any]) throws {
        let source = (model as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: source),
              var config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CheckpointError(.badConfig, file: source, "cannot read the source config as a JSON object")
        }
        config["quantization_config"] = quantizationConfig
        try writeJSON(config, to: "config.json")
    }
}
