import Dispatch
import JobProtocol
import Model

/// A `CalibrationWorker` on a serial queue of its own: requests run one at a time, in the order
/// they are sent, on a thread that is not one of Swift's cooperative pool (a long solve must not
/// hold a pool thread, or heartbeats and other workers would stall). The one adapter between the
/// worker and async callers: in process it is the coordinator's `WorkerConnection` (tests, the
/// `--in-process-workers` option); in a worker process `CalibrationHandler` serves it over the wire.
///
/// `@unchecked Sendable`: `worker` is only touched on `queue`, a serial queue.
public final class SerialWorker: WorkerConnection, @unchecked Sendable {
    public let address: String
    public let capacity: Int
    private let models: ModelDirectories
    private var worker: CalibrationWorker
    private let queue: DispatchQueue

    private let memoryLimit: Int

    public init(address: String, capacity: Int = 1, models: ModelDirectories = .any, memoryLimit: Int = ProcessMemory.physicalBytes) {
        self.address = address
        self.capacity = capacity
        self.models = models
        self.memoryLimit = memoryLimit
        worker = CalibrationWorker(models: models, memoryLimit: memoryLimit)
        queue = DispatchQueue(label: "calibrate.worker \(address)")
    }

    /// An in-process worker named "in-process #`index`".
    public convenience init(index: Int, capacity: Int = 1) {
        self.init(address: "in-process #\(index)", capacity: capacity)
    }

    public func send(_ request: WorkerRequest) async throws -> WorkerReply {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try self.worker.handle(request) }) }
        }
    }

    /// Drops the job's state (hidden states, layer, statistics): the worker is as new.
    public func reset() async {
        await withCheckedContinuation { continuation in
            queue.async {
                self.worker = CalibrationWorker(models: self.models, memoryLimit: self.memoryLimit)
                continuation.resume()
            }
        }
    }

    public func traffic() async -> WorkerTraffic { WorkerTraffic() }
}
