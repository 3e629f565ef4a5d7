/// An error loading a tokenizer: names the file, the JSON path of the bad field when there is
/// one, what was expected and what was found.
public struct TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file (or the name given for in-memory JSON).
    public let file: String
    /// What is wrong: the JSON path of the field, what was expected and what was found.
    public let message: String

    /// An error about `file` with `message`.
    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    /// `file: message`.
    public var description: String { "\(file): \(message)" }
}
