/// An error loading a tokenizer: names the file, the JSON path of the bad field when there is
/// one, what was expected and what was found.
public struct TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file (or the name given for in-memory JSON).
    public let file: String
    public let message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
