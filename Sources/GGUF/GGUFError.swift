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

extension GGUFError {
    /// `text` (a key or tensor name read from a file) as an error may show it: printable ASCII
    /// kept, anything else escaped, and at most 80 characters, with the full length said when
    /// cut — a corrupt name is never echoed back whole.
    static func shown(_ text: String) -> String {
        var shown = ""
        for scalar in text.unicodeScalars {
            let piece = (0x20..<0x7F).contains(scalar.value) ? String(scalar) : scalar.escaped(asASCII: true)
            if shown.utf8.count + piece.utf8.count > 80 { return shown + "… (\(text.utf8.count) bytes)" }
            shown += piece
        }
        return shown
    }
}
