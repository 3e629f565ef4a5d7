import Foundation

/// The `model.safetensors.index.json` of a sharded checkpoint:
/// `{"metadata": {"total_size": bytes}, "weight_map": {tensor name: shard file name}}`.
public struct ShardIndex: Sendable, Equatable {
    public static let fileName = "model.safetensors.index.json"

    /// Sum of the tensors' byte lengths (headers not included), as transformers writes it.
    public var totalSize: Int
    /// Tensor name → shard file name (a plain name inside the checkpoint directory).
    public var weightMap: [String: String]

    public init(totalSize: Int, weightMap: [String: String]) {
        self.totalSize = totalSize
        self.weightMap = weightMap
    }

    /// Shard file names in sorted order, each once.
    public var shardNames: [String] { Set(weightMap.values).sorted() }

    /// Parses an index file's contents.
    /// - Parameter file: the index's path, for error messages.
    /// - Throws: `CheckpointError.badIndex` naming what is malformed, including shard names that
    ///   are not plain file names (a path could point outside the checkpoint).
    public init(parsing data: Data, file: String) throws {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw CheckpointError(.badIndex, file: file, "not valid JSON: \(error.localizedDescription)")
        }
        guard let root = object as? [String: Any], let map = root["weight_map"] as? [String: Any] else {
            throw CheckpointError(.badIndex, file: file, "expected an object with a \"weight_map\" object")
        }
        var weightMap: [String: String] = [:]
        for (name, value) in map {
            guard let shard = value as? String else {
                throw CheckpointError(.badIndex, file: file, tensor: name, "weight_map value must be a shard file name")
            }
            guard !shard.isEmpty, !shard.contains("/"), shard != ".", shard != ".." else {
                throw CheckpointError(.badIndex, file: file, tensor: name, "shard \"\(shard)\" is not a plain file name in the checkpoint directory")
            }
            weightMap[name] = shard
        }
        let metadata = root["metadata"] as? [String: Any]
        totalSize = (metadata?["total_size"] as? NSNumber)?.intValue ?? 0
        self.weightMap = weightMap
    }

    /// The index as transformers writes it, keys sorted, two-space indented, trailing newline.
    public func encoded() -> Data {
        var text = "{\n  \"metadata\": {\n    \"total_size\": \(totalSize)\n  },\n  \"weight_map\": {\n"
        let lines = weightMap.keys.sorted().map { "    \(JSONText.quoted($0)): \(JSONText.quoted(weightMap[$0]!))" }
        text += lines.joined(separator: ",\n")
        text += "\n  }\n}\n"
        return Data(text.utf8)
    }
}
