/// An error of the forward pass or of its inputs: names the tensor, the layer or the limit at
/// fault and says what was expected and what was found.
public struct ModelError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, for tests and for callers that react to the kind of fault.
    public enum Code: String, Sendable {
        /// The checkpoint lacks a tensor the config requires.
        case missingTensor
        /// A tensor or buffer has another shape than the config implies.
        case badShape
        /// A tensor is stored in a dtype that is not a float type.
        case badDType
        /// A weight holds NaN or ±Inf.
        case nonFinite
        /// A sequence is longer than `max_position_embeddings`.
        case sequenceTooLong
        /// Tokens, windows or options that cannot be used (empty, out of the vocabulary…).
        case badInput
        /// A stage was requested out of order (see `LayerExecutor`).
        case stageOrder
    }

    public let code: Code
    /// The tensor the error is about (its checkpoint name), if any.
    public let tensor: String?
    public let message: String

    public init(_ code: Code, tensor: String? = nil, _ message: String) {
        self.code = code
        self.tensor = tensor
        self.message = message
    }

    public var description: String {
        if let tensor { return "tensor \"\(tensor)\": \(message)" }
        return message
    }
}
