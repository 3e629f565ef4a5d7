/// An error reading calibration or evaluation data: names the file, says what was expected and
/// what was found.
public struct DatasetError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
