import Wire

/// A worker's index in its pool, in connection order (stable for the pool's lifetime).
public struct WorkerID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let index: Int

    public init(_ index: Int) { self.index = index }

    public static func < (lhs: WorkerID, rhs: WorkerID) -> Bool { lhs.index < rhs.index }

    public var description: String { "worker \(index)" }
}

/// A worker that completed the handshake.
public struct WorkerInfo: Sendable, CustomStringConvertible {
    public let id: WorkerID
    /// The endpoint the pool connected to.
    public let endpoint: String
    public let capabilities: Capabilities
    /// How the worker describes itself (its listen endpoint).
    public let workerDescription: String
    /// Hello → Welcome round trip, including the connection's set-up.
    public let handshakeTime: Duration

    public var description: String { "\(id) (\(endpoint))" }
}

/// A worker's answer to a request.
public struct Reply: Sendable {
    public let worker: WorkerID
    /// The reply message (its body has the request type's `replyType`); tensors included.
    public let message: Message
    /// The request's bytes as sent (envelope and frames) and the reply's as received.
    public let requestBytes: Int
    public let replyBytes: Int

    public init(worker: WorkerID, message: Message, requestBytes: Int = 0, replyBytes: Int = 0) {
        (self.worker, self.message, self.requestBytes, self.replyBytes) = (worker, message, requestBytes, replyBytes)
    }
}

/// Changes in the pool's membership, in the order they happen.
public enum PoolEvent: Sendable {
    /// A worker completed its handshake.
    case joined(WorkerInfo)
    /// A worker was lost: heartbeat timeout, an invalid message, or it ended the session.
    /// Its pending requests have failed with `ClusterError.Code.workerLost`.
    case lost(WorkerID, endpoint: String, reason: String)
}
