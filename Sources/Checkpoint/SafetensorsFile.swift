import Tensors

/// One safetensors file, memory-mapped, its header validated on open. Tensors are views into
/// the mapping: nothing is read from disk until a tensor's bytes are touched.
public final class SafetensorsFile: Sendable {
    public let path: String
    public let header: SafetensorsHeader
    private let mapping: MappedFile

    /// Maps and validates the file at `path`.
    /// - Throws: `CheckpointError` naming the file and, where one is at fault, the tensor.
    public init(path: String) throws {
        self.path = path
        mapping = try MappedFile(path: path)
        header = try SafetensorsHeader(parsing: mapping.bytes, file: path)
    }

    /// Names of the tensors, sorted.
    public var names: [String] { header.entries.keys.sorted() }

    /// The header entry of `name`.
    /// - Throws: `CheckpointError.missingTensor` when the file has no such tensor.
    public func entry(_ name: String) throws -> TensorEntry {
        guard let entry = header.entries[name] else {
            throw CheckpointError(.missingTensor, file: path, tensor: name, "not in this file (it has \(header.entries.count) tensors)")
        }
        return entry
    }

    /// The tensor `name`, viewing the mapped bytes (no copy).
    public func tensor(_ name: String) throws -> Tensor {
        let entry = try entry(name)
        let range = (header.dataStart + entry.dataOffsets.lowerBound)..<(header.dataStart + entry.dataOffsets.upperBound)
        let view = UnsafeRawBufferPointer(rebasing: mapping.bytes[range])
        return try Tensor(dtype: entry.dtype, shape: entry.shape, storage: TensorStorage(viewing: view, owner: mapping))
    }

    /// Starts reading tensor `name` from disk in the background (`MappedFile.willNeed`).
    public func prefetch(_ name: String) {
        guard let entry = header.entries[name] else { return }
        mapping.willNeed((header.dataStart + entry.dataOffsets.lowerBound)..<(header.dataStart + entry.dataOffsets.upperBound))
    }

    /// Drops the pages of tensor `name` from the resident set once the caller has copied what it
    /// needs (see `MappedFile.release`). Views of it stay valid; they read from disk again.
    public func release(_ name: String) {
        guard let entry = header.entries[name] else { return }
        mapping.release((header.dataStart + entry.dataOffsets.lowerBound)..<(header.dataStart + entry.dataOffsets.upperBound))
    }
}
