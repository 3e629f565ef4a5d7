import Dispatch
import WorkerCore

/// The coordinator's handle on one worker: send a request, await its reply. Implemented over
/// the wire for remote and local-process workers, and in process (`InProcessWorker`) for tests
/// and embedded runs.
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
}

/// A worker running inside this process on a thread of its own: the same `CalibrationWorker`
/// remote workers run, with requests passed as values (no serialization).
///
/// `@unchecked Sendable`: the worker is only touched on `queue`, a serial queue, one request at
/// a time.
public final class InProcessWorker: WorkerConnection, @unchecked Sendable {
    public let address: String
    public let capacity: Int
    private let worker = CalibrationWorker()
    private let queue: DispatchQueue

    public init(index: Int, capacity: Int = 1) {
        address = "in-process #\(index)"
        self.capacity = capacity
        queue = DispatchQueue(label: "calibrate.worker.\(index)")
    }

    public func send(_ request: WorkerRequest) async throws -> WorkerReply {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try self.worker.handle(request) })
            }
        }
    }

    public func traffic() async -> (sent: Int, received: Int) { (0, 0) }
}
