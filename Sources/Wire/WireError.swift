/// Why a message could not be used, or why a request failed; travels as an `Error` message.
///
/// The raw values are those of `Error.Code` in Protocols/calibrate.proto.
public enum ErrorCode: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case unspecified = 0
    case versionMismatch = 1
    /// The envelope does not decode, or a required field is missing or out of range.
    case malformed = 2
    case unknownType = 3
    /// Descriptors and frames disagree: count, byte length, dtype × shape, or checksum.
    case frameMismatch = 4
    case oversize = 5
    case unknownJob = 6
    /// A valid message at the wrong time: no session, no job, a reply nobody asked for.
    case unexpected = 7
    case invalidArgument = 8
    case notFound = 9
    case numerical = 10
    case resourceExhausted = 11
    /// The worker is serving another coordinator.
    case busy = 12
    case shuttingDown = 13
    case `internal` = 14

    public var description: String {
        switch self {
        case .unspecified: "unspecified"
        case .versionMismatch: "version mismatch"
        case .malformed: "malformed"
        case .unknownType: "unknown type"
        case .frameMismatch: "frame mismatch"
        case .oversize: "oversize"
        case .unknownJob: "unknown job"
        case .unexpected: "unexpected"
        case .invalidArgument: "invalid argument"
        case .notFound: "not found"
        case .numerical: "numerical"
        case .resourceExhausted: "resource exhausted"
        case .busy: "busy"
        case .shuttingDown: "shutting down"
        case .internal: "internal"
        }
    }
}

/// A message that could not be decoded or validated, with the code a peer is told.
public struct WireError: Error, CustomStringConvertible, Sendable, Equatable {
    public let code: ErrorCode
    /// What was wrong, naming the field or frame, what was expected and what was found.
    public let message: String
    /// The header of the message it concerns, when that much decoded (else empty and 0): a
    /// worker answers a request whose body or frames are invalid under the request's task id.
    public var jobID = ""
    public var taskID: UInt64 = 0
    public var attempt: UInt32 = 0

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

/// An error that knows how to describe itself on the wire. Domain errors (a missing tensor, a
/// failed Cholesky factorization) conform, so that they become `Error` messages in one place —
/// the worker's server loop — with their code, layer and tensor.
public protocol WireErrorConvertible: Error {
    /// The `Error` message body that reports this error to the peer.
    var errorReport: ErrorReport { get }
}

extension WireError: WireErrorConvertible {
    public var errorReport: ErrorReport { ErrorReport(code: code, message: message) }
}
