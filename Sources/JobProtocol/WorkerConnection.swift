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
    /// Bytes sent to and received from the worker so far, by the kind of request they belonged
    /// to (none in process).
    func traffic() async -> WorkerTraffic
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

/// What crossed one coordinator–worker link: the bytes of every request (its envelope and
/// frames, as encoded) and of its reply, by the request's kind. Heartbeats are not counted.
public struct WorkerTraffic: Sendable, Equatable {
    public struct Bytes: Sendable, Equatable, Codable {
        public var sent: Int
        public var received: Int
        public init(sent: Int = 0, received: Int = 0) { (self.sent, self.received) = (sent, received) }
        public var total: Int { sent + received }

        public static func + (a: Bytes, b: Bytes) -> Bytes { Bytes(sent: a.sent + b.sent, received: a.received + b.received) }
    }

    public var byKind: [WorkerRequest.Kind: Bytes]

    public init(byKind: [WorkerRequest.Kind: Bytes] = [:]) { self.byKind = byKind }

    public var sent: Int { byKind.values.reduce(0) { $0 + $1.sent } }
    public var received: Int { byKind.values.reduce(0) { $0 + $1.received } }

    /// Counts one request of `kind` and its reply.
    public mutating func add(_ kind: WorkerRequest.Kind, sent: Int, received: Int) {
        byKind[kind, default: Bytes()] = byKind[kind, default: Bytes()] + Bytes(sent: sent, received: received)
    }

    /// Both links' traffic together (e.g. every worker's).
    public static func + (a: WorkerTraffic, b: WorkerTraffic) -> WorkerTraffic {
        WorkerTraffic(byKind: a.byKind.merging(b.byKind, uniquingKeysWith: +))
    }

    /// What crossed since `earlier` (a reading of the same link or links).
    public static func - (later: WorkerTraffic, earlier: WorkerTraffic) -> WorkerTraffic {
        var difference = later
        for (kind, bytes) in earlier.byKind {
            difference.byKind[kind, default: Bytes()].sent -= bytes.sent
            difference.byKind[kind, default: Bytes()].received -= bytes.received
        }
        difference.byKind = difference.byKind.filter { $0.value != Bytes() }
        return difference
    }

    /// By kind name (`WorkerRequest.Kind`'s raw values), as reports store it.
    public var byPhase: [String: Bytes] { Dictionary(uniqueKeysWithValues: byKind.map { ($0.key.rawValue, $0.value) }) }
}
