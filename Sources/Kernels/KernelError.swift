/// The error of every kernel in calibrate: what was wrong, naming the object (tensor, layer,
/// module, row), what was expected and what was found.
public struct KernelError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of failure, for callers that map errors onto wire error codes.
    public enum Code: String, Sendable {
        /// An argument is out of range or inconsistent (bits, group size, shapes, row ranges).
        case invalidArgument
        /// NaN or ±Inf in input data.
        case nonFinite
        /// A serialized value (`[String: Tensor]`) is missing, of the wrong dtype or shape.
        case malformedTensor
        /// A Cholesky factorization failed even at the largest damping allowed.
        case factorizationFailed
        /// A value cannot be written in the requested format (e.g. a GPTQ v1 zero point of 0).
        case unrepresentable
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
