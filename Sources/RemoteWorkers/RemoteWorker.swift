import Cluster
import JobProtocol
import Tensors
import Wire

/// A worker reached through a `WorkerPool` (another process, here or on another machine): each
/// request travels as its protocol message under the job's id (the `WorkerJob.jobID` of the
/// request that started the job), and the reply comes back as a value.
public actor RemoteWorker: WorkerConnection {
    public nonisolated let address: String
    public nonisolated let capacity: Int
    private let pool: WorkerPool
    private let id: WorkerID
    /// The job this worker runs, from its `.start` request; nil before.
    private var jobID: String?
    private var counted = WorkerTraffic()

    /// - Parameters:
    ///   - info: the worker, past its handshake.
    ///   - capacity: its share of the samples (default: its compute threads).
    public init(pool: WorkerPool, info: WorkerInfo, capacity: Int? = nil) {
        self.pool = pool
        id = info.id
        address = info.endpoint
        self.capacity = max(1, capacity ?? info.capabilities.threads)
    }

    public func send(_ request: WorkerRequest) async throws -> WorkerReply {
        if case .start(let job, _) = request { jobID = job.jobID }
        guard let jobID else { throw ClusterError(.invalidRequest, "\(address): \(Body.request(request).type) before the job was started") }
        let message = Message(.request(request))
        let reply: Reply
        do {
            reply = try await pool.request(message, to: id, jobID: jobID)
        } catch let error as ClusterError where error.code == .workerLost {
            throw WorkerLost(address: address, reason: error.message)
        }
        counted.add(request.kind, sent: reply.requestBytes, received: reply.replyBytes)
        guard case .reply(let value) = reply.message.body else {
            throw ClusterError(.invalidRequest, "\(address) answered \(message.type) with \(reply.message.type)")
        }
        return value
    }

    public func traffic() async -> WorkerTraffic { counted }

    public func leave(reason: String) async {
        await pool.dismiss(id, reason: reason)
    }
}
