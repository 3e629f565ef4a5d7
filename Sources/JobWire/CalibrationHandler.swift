import Cluster
import Dispatch
import Wire
import WorkerCore

/// The worker process's job handler: decodes each job request, runs it on the worker's
/// `CalibrationWorker` on a thread of its own (a long solve must not hold a cooperative thread,
/// or heartbeats would stall), and encodes the reply. Evaluate requests (sum, echo, fail, sleep:
/// diagnostics for `coordinator ping` and tests) go to the `DiagnosticHandler`.
///
/// `@unchecked Sendable`: `worker` is only touched on `queue`, a serial queue.
public final class CalibrationHandler: WorkerHandler, @unchecked Sendable {
    private var worker = CalibrationWorker()
    private let queue = DispatchQueue(label: "calibrate.worker.job")
    private let diagnostics = DiagnosticHandler()

    public init() {}

    public func handle(_ request: Message) async throws -> Cluster.WorkerReply {
        if case .evaluate = request.body { return try await diagnostics.handle(request) }
        let jobRequest = try JobCodec.decodeRequest(request)
        let reply: WorkerCore.WorkerReply = try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try self.worker.handle(jobRequest) }) }
        }
        let (body, tensors) = try JobCodec.encode(reply, to: request)
        return Cluster.WorkerReply(body, tensors: tensors)
    }

    /// Drops the job's state (hidden states, layer, statistics) when the session ends.
    public func sessionEnded(reason: String) async {
        await withCheckedContinuation { continuation in
            queue.async {
                self.worker = CalibrationWorker()
                continuation.resume()
            }
        }
    }
}
