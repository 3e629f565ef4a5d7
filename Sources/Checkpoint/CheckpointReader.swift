import Foundation
import Tensors

/// The tensors of a checkpoint: one safetensors file, or the shards listed by
/// `model.safetensors.index.json`. Every file is mapped and validated on open, and every index
/// entry is checked against its shard's header; tensors are then read lazily by name.
public final class CheckpointReader: Sendable {
    /// The directory (or, for a lone file, the file) the checkpoint was opened from.
    public let path: String
    private let files: [SafetensorsFile]
    /// Tensor name → position in `files`.
    private let location: [String: Int]

    /// Opens `path`: a directory holding `model.safetensors.index.json` or a single
    /// `model.safetensors`, or the path of one `.safetensors` file.
    /// - Throws: `CheckpointError` naming the file, shard or tensor at fault.
    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError(.io, file: path, "no such file or directory")
        }
        guard isDirectory.boolValue else {
            let file = try SafetensorsFile(path: path)
            (files, location) = ([file], Dictionary(uniqueKeysWithValues: file.names.map { ($0, 0) }))
            return
        }
        let indexPath = (path as NSString).appendingPathComponent(ShardIndex.fileName)
        if FileManager.default.fileExists(atPath: indexPath) {
            (files, location) = try Self.openShards(directory: path, indexPath: indexPath)
            return
        }
        let single = (path as NSString).appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: single) else {
            throw CheckpointError(.missingShard, file: path, "holds neither \(ShardIndex.fileName) nor model.safetensors")
        }
        let file = try SafetensorsFile(path: single)
        (files, location) = ([file], Dictionary(uniqueKeysWithValues: file.names.map { ($0, 0) }))
    }

    private static func openShards(directory: String, indexPath: String) throws -> ([SafetensorsFile], [String: Int]) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: indexPath))
        } catch {
            throw CheckpointError(.io, file: indexPath, "cannot read: \(error.localizedDescription)")
        }
        let index = try ShardIndex(parsing: data, file: indexPath)
        var files: [SafetensorsFile] = []
        var position: [String: Int] = [:]
        for shard in index.shardNames {
            let shardPath = (directory as NSString).appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: shardPath) else {
                let tensor = index.weightMap.keys.sorted().first { index.weightMap[$0] == shard }
                throw CheckpointError(.missingShard, file: indexPath, tensor: tensor, "names shard \"\(shard)\", which does not exist in \(directory)")
            }
            position[shard] = files.count
            files.append(try SafetensorsFile(path: shardPath))
        }
        var location: [String: Int] = [:]
        for (name, shard) in index.weightMap.sorted(by: { $0.key < $1.key }) {
            let file = position[shard]!
            guard files[file].header.entries[name] != nil else {
                throw CheckpointError(.missingTensor, file: files[file].path, tensor: name, "listed in \(ShardIndex.fileName) but absent from this shard")
            }
            location[name] = file
        }
        return (files, location)
    }

    /// Every tensor name, sorted.
    public var names: [String] { location.keys.sorted() }

    /// Whether the checkpoint holds `name`.
    public func contains(_ name: String) -> Bool { location[name] != nil }

    /// The header entry of `name`.
    public func entry(_ name: String) throws -> TensorEntry {
        try file(holding: name).entry(name)
    }

    /// The tensor `name`, a view into its mapped shard.
    /// - Throws: `CheckpointError.missingTensor` naming the checkpoint when it has no such tensor.
    public func tensor(_ name: String) throws -> Tensor {
        try file(holding: name).tensor(name)
    }

    /// The file holding `name`.
    public func file(holding name: String) throws -> SafetensorsFile {
        guard let index = location[name] else {
            throw CheckpointError(.missingTensor, file: path, tensor: name, "not in this checkpoint")
        }
        return files[index]
    }

    /// Starts reading tensor `name` from disk in the background (see `SafetensorsFile.prefetch`).
    public func prefetch(_ name: String) {
        if let index = location[name] { files[index].prefetch(name) }
    }

    /// Drops tensor `name`'s pages from the resident set (see `SafetensorsFile.release`).
    public func release(_ name: String) {
        if let index = location[name] { files[index].release(name) }
    }
}
