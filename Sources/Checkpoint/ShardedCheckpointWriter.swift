import Foundation
import Tensors

/// Writes a sharded safetensors checkpoint as tensors arrive (layer by layer in the main job).
///
/// Tensors are buffered until adding the next one would pass `maxShardSize`; the buffer is then
/// written as one shard (sorted by name inside the shard) under a pending name. `finish()` gives
/// the shards their final names `model-0000i-of-0000N.safetensors` (N is known only then) and
/// writes `model.safetensors.index.json` last, so a directory without an index is visibly
/// incomplete. A tensor larger than the limit gets a shard of its own.
///
/// Memory: at most one shard's worth of tensors is held (they are usually views or small
/// quantized tensors; see docs/ARCHITECTURE.md for the bound).
public final class ShardedCheckpointWriter {
    /// A shard written under its pending name: what a resumed job trusts after checking its digest.
    public struct WrittenShard: Codable, Sendable, Equatable {
        public var file: String
        public var names: [String]
        public var bytes: Int
        public var sha256: String
    }

    public let directory: String
    public let maxShardSize: Int
    public let metadata: [String: String]
    private var pending: [String: Tensor] = [:]
    private var pendingBytes = 0
    /// The shards written so far, in order.
    public private(set) var written: [WrittenShard] = []
    private var seen: Set<String> = []
    /// Written shards opened to read tensors back, by pending file name.
    private var readers: [String: SafetensorsFile] = [:]

    /// - Parameters:
    ///   - directory: an existing directory.
    ///   - maxShardSize: bytes of tensor data per shard (headers not counted, as transformers counts).
    ///   - metadata: the `__metadata__` of every shard; transformers expects `format: pt`.
    public init(directory: String, maxShardSize: Int, metadata: [String: String] = ["format": "pt"]) {
        precondition(maxShardSize > 0, "maxShardSize must be positive")
        self.directory = directory
        self.maxShardSize = maxShardSize
        self.metadata = metadata
    }

    /// Goes on from `shards`, written by an earlier writer with the same settings (their digests
    /// checked by the caller): their tensors count as added, and the next shard is numbered after them.
    public convenience init(directory: String, maxShardSize: Int, resuming shards: [WrittenShard], metadata: [String: String] = ["format": "pt"]) {
        self.init(directory: directory, maxShardSize: maxShardSize, metadata: metadata)
        written = shards
        seen = Set(shards.flatMap(\.names))
    }

    /// Whether `name` is in a written shard (as opposed to the buffer, or not added).
    public func isWritten(_ name: String) -> Bool {
        pending[name] == nil && seen.contains(name)
    }

    /// Adds a tensor; may write a shard.
    /// - Throws: `CheckpointError` for a duplicate name or a failed write.
    public func add(_ name: String, _ tensor: Tensor) throws {
        guard seen.insert(name).inserted else {
            throw CheckpointError(.invalidValue, file: directory, tensor: name, "added twice to the checkpoint being written")
        }
        if !pending.isEmpty && pendingBytes + tensor.byteCount > maxShardSize {
            try flush()
        }
        pending[name] = tensor
        pendingBytes += tensor.byteCount
    }

    /// A tensor added so far, from the buffer or read back from the shard written with it (the
    /// output as written is what a lost worker's samples are replayed from).
    /// - Throws: `CheckpointError` when no tensor of that name was added, or its shard cannot be read.
    public func tensor(_ name: String) throws -> Tensor {
        if let tensor = pending[name] { return tensor }
        guard let shard = written.first(where: { $0.names.contains(name) }) else {
            throw CheckpointError(.missingTensor, file: directory, tensor: name, "not in the checkpoint being written")
        }
        let file: SafetensorsFile
        if let open = readers[shard.file] {
            file = open
        } else {
            file = try SafetensorsFile(path: (directory as NSString).appendingPathComponent(shard.file))
            readers[shard.file] = file
        }
        return try file.tensor(name)
    }

    /// The names added so far that start with `prefix`, sorted.
    public func names(withPrefix prefix: String) -> [String] {
        seen.filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// Writes what is buffered, renames every shard to its final name and writes the index. When
    /// anything fails (`beforeIndex` included), the shards get their pending names back.
    /// - Parameter beforeIndex: runs after the shards have their final names and before the
    ///   index is written (side files, config.json: anything that must exist before the
    ///   checkpoint looks complete); gets the final shard names in order.
    /// - Returns: the index written, and the final file names in order.
    @discardableResult
    public func finish(beforeIndex: ([String]) throws -> Void = { _ in }) throws -> (index: ShardIndex, files: [String]) {
        if !pending.isEmpty || written.isEmpty { try flush() }
        readers = [:]
        let count = written.count
        var weightMap: [String: String] = [:]
        var files: [String] = []
        var total = 0
        var renamed: [(pending: String, final: String)] = []
        do {
            for (number, shard) in written.enumerated() {
                let name = Self.shardName(number + 1, of: count)
                let from = (directory as NSString).appendingPathComponent(shard.file)
                let to = (directory as NSString).appendingPathComponent(name)
                guard rename(from, to) == 0 else {
                    throw CheckpointError(.io, file: to, "cannot rename \(from) into place: \(String(cString: strerror(errno)))")
                }
                renamed.append((from, to))
                for tensor in shard.names { weightMap[tensor] = name }
                files.append(name)
                total += shard.bytes
            }
            let index = ShardIndex(totalSize: total, weightMap: weightMap)
            try beforeIndex(files)
            try AtomicFile.write(Array(index.encoded()), to: (directory as NSString).appendingPathComponent(ShardIndex.fileName))
            return (index, files)
        } catch {
            // The shards go back to their pending names: no final-named shard is left, and a
            // resumed job finds the shards where its journal says.
            for (pending, final) in renamed.reversed() { _ = rename(final, pending) }
            throw error
        }
    }

    /// `model-00001-of-00003.safetensors`.
    public static func shardName(_ number: Int, of count: Int) -> String {
        "model-\(fiveDigits(number))-of-\(fiveDigits(count)).safetensors"
    }

    private static func fiveDigits(_ value: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    private func flush() throws {
        let file = ".shard-\(Self.fiveDigits(written.count + 1)).safetensors.pending"
        let path = (directory as NSString).appendingPathComponent(file)
        try SafetensorsWriter.write(pending, metadata: metadata, to: path)
        written.append(WrittenShard(file: file, names: pending.keys.sorted(), bytes: pendingBytes, sha256: try SHA256.hexDigest(ofFile: path)))
        pending = [:]
        pendingBytes = 0
    }
}
