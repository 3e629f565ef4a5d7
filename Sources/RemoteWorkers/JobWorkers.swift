import Cluster
import JobProtocol

/// The workers of one job and how to let them go.
public struct JobWorkers: Sendable {
    public var connections: [any WorkerConnection]
    /// Ends the sessions and stops local worker processes.
    public var shutdown: @Sendable () async -> Void

    public init(connections: [any WorkerConnection], shutdown: @escaping @Sendable () async -> Void) {
        self.connections = connections
        self.shutdown = shutdown
    }

    /// Connects to the workers of `source` (a hosts file, or local processes it starts).
    /// - Throws: `ClusterError` naming every worker that could not be reached (nothing is left running).
    public static func connect(_ source: WorkerCluster.Source, configuration: PoolConfiguration = PoolConfiguration()) async throws -> JobWorkers {
        let cluster = try await WorkerCluster.start(source, configuration: configuration, requireAll: true)
        return JobWorkers(connections: cluster.workers.map { RemoteWorker(pool: cluster.pool, info: $0) },
                          shutdown: { await cluster.shutdown(reason: "the job is over") })
    }

    /// `count` workers inside this process, each a `WorkerServer` with the handler `makeHandler`
    /// makes (the worker's `CalibrationHandler`, for the embedded mode and tests) over the
    /// in-process transport: the whole protocol (codec, validation, heartbeats) without sockets.
    public static func embedded(count: Int, configuration: PoolConfiguration = PoolConfiguration(),
                                makeHandler: @escaping @Sendable (Int) -> any WorkerHandler) async throws -> JobWorkers {
        let cluster = try await WorkerCluster.startEmbedded(count: count, makeHandler: makeHandler, configuration: configuration)
        return JobWorkers(connections: cluster.workers.map { RemoteWorker(pool: cluster.pool, info: $0) },
                          shutdown: { await cluster.shutdown(reason: "the job is over") })
    }
}
