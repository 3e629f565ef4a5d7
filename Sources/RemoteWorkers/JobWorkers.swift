import Cluster
import JobProtocol

/// The workers of one job and how to let them go.
public struct JobWorkers: Sendable {
    public var connections: [any WorkerConnection]
    /// Ends the sessions and stops local worker processes.
    public var shutdown: @Sendable () async -> Void
    /// Workers that join later: the hosts file's new entries (nil for local and in-process workers).
    public var joining: HostsFileJoining?

    public init(connections: [any WorkerConnection], shutdown: @escaping @Sendable () async -> Void, joining: HostsFileJoining? = nil) {
        self.connections = connections
        self.shutdown = shutdown
        self.joining = joining
    }

    /// Connects to the workers of `source` (a hosts file, or local processes it starts). A
    /// hosts file is watched from then on: entries added later join the job (`joining`).
    /// - Throws: `ClusterError` naming every worker that could not be reached (nothing is left running).
    public static func connect(_ source: WorkerCluster.Source, configuration: PoolConfiguration = PoolConfiguration()) async throws -> JobWorkers {
        var watch: HostsFileWatch?
        if case .hostsFile(let path) = source { watch = HostsFileWatch(path: path) }
        let cluster = try await WorkerCluster.start(source, configuration: configuration, requireAll: true)
        return JobWorkers(connections: cluster.workers.map { RemoteWorker(pool: cluster.pool, info: $0) },
                          shutdown: { await cluster.shutdown(reason: "the job is over") },
                          joining: watch.map { HostsFileJoining(pool: cluster.pool, watch: $0) })
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
