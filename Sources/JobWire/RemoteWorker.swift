import Cluster
import CoordinatorCore
import Tensors
import Wire
import WorkerCore

/// A worker reached through a `WorkerPool` (another process, here or on another machine): each
/// request is encoded by `JobCodec`, sent with the job's id, and its reply decoded.
public actor RemoteWorker: WorkerConnection {
    public nonisolated let address: String
    public nonisolated let capacity: Int
    private let pool: WorkerPool
    private let id: WorkerID
    private let jobID: String
    private var sent = 0
    private var received = 0

    /// - Parameters:
    ///   - info: the worker, past its handshake.
    ///   - capacity: its share of the samples (default: its compute threads).
    public init(pool: WorkerPool, info: WorkerInfo, jobID: String, capacity: Int? = nil) {
        self.pool = pool
        id = info.id
        address = info.endpoint
        self.jobID = jobID
        self.capacity = max(1, capacity ?? info.capabilities.threads)
    }

    public func send(_ request: WorkerRequest) async throws -> WorkerCore.WorkerReply {
        let (body, tensors) = try JobCodec.encode(request)
        sent += tensors.reduce(0) { $0 + $1.tensor.byteCount }
        let reply = try await pool.request(body, tensors: tensors, to: id, jobID: jobID)
        received += reply.message.tensors.reduce(0) { $0 + $1.tensor.byteCount }
        return try JobCodec.decodeReply(reply.message)
    }

    public func traffic() async -> (sent: Int, received: Int) { (sent, received) }
}
