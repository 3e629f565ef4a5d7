import Wire

/// A failure of the cluster: configuration, a handshake, a lost worker, a worker's refusal.
public struct ClusterError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// A hosts file, option or executable that cannot be used.
        case configuration
        /// The worker speaks another protocol version.
        case versionMismatch
        /// The handshake failed: refused (busy, malformed), or no answer in time.
        case handshakeFailed
        /// The worker stopped answering, sent something invalid, or ended the session.
        case workerLost
        /// The worker answered the request with an `Error` message (see `report`).
        case remote
        /// The pool is shutting down.
        case shutdown
        /// A request the pool cannot send (unknown worker, duplicate task).
        case invalidRequest
    }

    public let code: Code
    /// What happened, naming the worker's address, the file and line, or the request.
    public let message: String
    /// The worker's `Error` message, for `.remote` (and for a refused handshake).
    public let report: ErrorReport?

    public init(_ code: Code, _ message: String, report: ErrorReport? = nil) {
        self.code = code
        self.message = message
        self.report = report
    }

    public var description: String { message }
}

extension ErrorCode {
    /// Whether a peer that sends or receives this error ends the session: protocol violations do;
    /// failures of a request the handler could not satisfy do not.
    public var endsSession: Bool {
        switch self {
        case .versionMismatch, .malformed, .unknownType, .frameMismatch, .oversize, .unknownJob, .unexpected, .busy, .shuttingDown:
            true
        case .unspecified, .invalidArgument, .notFound, .numerical, .resourceExhausted, .internal:
            false
        }
    }
}
