import Cluster
import Wire
import WorkerCore

/// The worker process's job handler: each job request (a `WorkerRequest`, decoded by the wire
/// codec) runs on the worker's `SerialWorker`, and its `WorkerReply` goes back as the reply's
/// body. Evaluate requests (sum, echo, fail, sleep: diagnostics for `coordinator ping` and tests)
/// go to the `DiagnosticHandler`.
public final class CalibrationHandler: WorkerHandler {
    private let worker: SerialWorker
    private let diagnostics = DiagnosticHandler()
    private let fault: FaultInjection?

    /// - Parameters:
    ///   - modelDirectories: the only directories jobs may read models from (`worker --models`);
    ///     empty: any path.
    ///   - fault: a fault to inject before a matching job request (`worker --fault`).
    public init(modelDirectories: [String] = [], fault: FaultInjection? = nil) {
        worker = SerialWorker(address: "this worker", models: modelDirectories.isEmpty ? .any : ModelDirectories(modelDirectories))
        self.fault = fault
    }

    public func handle(_ request: Message) async throws -> HandlerReply {
        switch request.body {
        case .evaluate:
            return try await diagnostics.handle(request)
        case .request(let jobRequest):
            fault?.before(jobRequest)
            return HandlerReply(.reply(try await worker.send(jobRequest)))
        default:
            throw WireError(.unexpected, "\(request.type) is not a job request")
        }
    }

    /// Drops the job's state (hidden states, layer, statistics) when the session ends.
    public func sessionEnded(reason: String) async {
        await worker.reset()
    }
}
