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
    /// Tells the store that `name` will be read soon, so it can start reading it from disk in
    /// the background (a checkpoint does; memory has nothing to do).
    func prefetch(_ name: String)
    /// The dtype and shape `tensor(name)` returns, read from headers where the store can (nothing
    /// is read or converted): what a model's layout is checked against before anything runs.
    func layout(of name: String) throws -> (dtype: DType, shape: [Int])
}

extension TensorStore {
    public func prefetch(_ name: String) {}

    /// From the tensor itself: a view for files and memory, so nothing is read.
    public func layout(of name: String) throws -> (dtype: DType, shape: [Int]) {
        let tensor = try tensor(name)
        return (tensor.dtype, tensor.shape)
    }
}

extension CheckpointReader: TensorStore {
    public func layout(of name: String) throws -> (dtype: DType, shape: [Int]) {
        let entry = try entry(name)
        return (entry.dtype, entry.shape)
    }
}

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
