/// A `config.json` that does not describe a model calibrate runs: the file, and the field with
/// what was expected and what was found.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: Sendable, Equatable {
        /// A field is missing, of the wrong type or out of range, or the JSON is not an object.
        case badConfig
        /// A model type, activation or rope scaling calibrate does not implement.
        case unsupportedModel
    }

    public let code: Code
    /// The config's path as given by the caller.
    public let file: String
    public let message: String

    public init(_ code: Code, file: String, _ message: String) {
        self.code = code
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
