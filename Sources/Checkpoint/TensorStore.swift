import Tensors

/// Named tensors to read a model from: a checkpoint on disk (`CheckpointReader`) or tensors
/// held in memory (`InMemoryTensorStore`, e.g. weights streamed over the network).
public protocol TensorStore: Sendable {
    /// Where the tensors come from, for error messages.
    var path: String { get }
    /// Every tensor name, sorted.
    var names: [String] { get }
    func contains(_ name: String) -> Bool
    /// The tensor `name`.
    /// - Throws: `CheckpointError.missingTensor` naming the store when there is no such tensor.
    func tensor(_ name: String) throws -> Tensor
    /// Tells the store that `name` was copied and will not be read again soon.
    func release(_ name: String)
}

extension CheckpointReader: TensorStore {}

/// Tensors held in memory under their names.
public struct InMemoryTensorStore: TensorStore {
    public let path: String
    private let tensors: [String: Tensor]

    /// - Parameter label: what the tensors are, for error messages (e.g. "layer 3 as streamed").
    public init(_ tensors: [String: Tensor], label: String) {
        self.tensors = tensors
        path = label
    }

    public var names: [String] { tensors.keys.sorted() }

    public func contains(_ name: String) -> Bool { tensors[name] != nil }

    public func tensor(_ name: String) throws -> Tensor {
        guard let tensor = tensors[name] else {
            throw CheckpointError(.missingTensor, file: path, tensor: name, "not among the \(tensors.count) tensors held")
        }
        return tensor
    }

    public func release(_ name: String) {}
}
