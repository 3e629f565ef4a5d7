/// An error reading or writing checkpoint files: names the file, the tensor when there is one,
/// and says what was expected and what was found.
public struct CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, for tests and for callers that react to the kind of fault.
    public enum Code: String, Sendable {
        case io
        case truncated
        case headerTooLong
        case badJSON
        case unknownDType
        case badShape
        case sizeMismatch
        case offsetsOutOfRange
        case overlappingOffsets
        case missingShard
        case missingTensor
        case badIndex
        case badConfig
        case unsupportedModel
        case invalidValue
    }

    public let code: Code
    /// The file the error is about (a path as given by the caller).
    public let file: String
    /// The tensor the error is about, if any.
    public let tensor: String?
    public let message: String

    public init(_ code: Code, file: String, tensor: String? = nil, _ message: String) {
        self.code = code
        self.file = file
        self.tensor = tensor
        self.message = message
    }

    public var description: String {
        if let tensor { return "\(file): tensor \"\(tensor)\": \(message)" }
        return "\(file): \(message)"
    }
}
