/// A worker's refusal or failure: a request out of turn, or input that does not fit the job.
/// The message names the layer, stage or tensor.
public struct WorkerError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
