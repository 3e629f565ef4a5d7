/// An error reading a GGUF file: names the file, the tensor or metadata key when one is at
/// fault, what was expected and what was found.
public struct GGUFError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        case io, truncated, badMagic, unsupportedVersion, badMetadata, unknownType, badTensor, unsupportedModel
    }

    public let code: Code
    public let file: String
    public let message: String

    public init(_ code: Code, file: String, _ message: String) {
        self.code = code
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
