/// The coordinator's handle on one worker: send a request, await its reply. Implemented over
/// the wire for remote and local-process workers, and in process (WorkerCore's `SerialWorker`)
/// for tests and embedded runs.
public protocol WorkerConnection: Sendable {
    /// Where the worker is (a host:port, an ipc path, "in-process #i"), for reports and errors.
    var address: String { get }
    /// Relative share of the samples this worker should hold (e.g. its slots × cores).
    var capacity: Int { get }
    /// Sends `request` and waits for the reply.
    /// - Throws: the worker's error (naming layer, module or tensor), or a transport error
    ///   naming the worker when it is unreachable or gone.
    func send(_ request: WorkerRequest) async throws -> WorkerReply
    /// Bytes sent to and received from the worker so far (0 in process).
    func traffic() async -> (sent: Int, received: Int)
    /// Ends this worker's part in the job, which sends it nothing more: its session ends and
    /// the process goes on serving (a worker that leaves a job is not lost).
    func leave(reason: String) async
}

extension WorkerConnection {
    /// Nothing to end (in-process workers).
    public func leave(reason: String) async {}
}

/// The worker is gone: it died, stopped answering (heartbeat timeout) or ended the session. Not
/// a fault of the request: the job goes on without the worker (`CalibrationJob`'s recovery).
/// Connections throw this, and only this, for a lost worker.
public struct WorkerLost: Error, CustomStringConvertible, Sendable {
    public var address: String
    public var reason: String

    public init(address: String, reason: String) {
        self.address = address
        self.reason = reason
    }

    public var description: String { "worker \(address) lost: \(reason)" }
}
