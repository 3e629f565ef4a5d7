/// Errors raised when tensor bytes, shapes or types do not agree.
public struct TensorError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was wrong, naming what was expected and what was found.
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
