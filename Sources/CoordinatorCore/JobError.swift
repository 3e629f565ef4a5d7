/// An error of the calibration job: bad input (recipe, model, data, output directory) or a
/// failure during the run. The message names the object, what was expected and what was found.
public struct JobError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
