import Cluster
import CoordinatorCore
import Foundation
import WorkerCore

/// The workers of one job and how to let them go.
public struct JobWorkers: Sendable {
    public var connections: [any WorkerConnection]
    /// Ends the sessions and stops local worker processes.
    public var shutdown: @Sendable () async -> Void

    public init(connections: [any WorkerConnection], shutdown: @escaping @Sendable () async -> Void) {
        self.connections = connections
        self.shutdown = shutdown
    }

    /// Connects to the workers of `source` (a hosts file, or local processes it starts) for job `jobID`.
    /// - Throws: `ClusterError` naming every worker that could not be reached (nothing is left running).
    public static func connect(_ source: WorkerCluster.Source, configuration: PoolConfiguration = PoolConfiguration(),
                               jobID: String) async throws -> JobWorkers {
        let cluster = try await WorkerCluster.start(source, configuration: configuration, requireAll: true)
        return JobWorkers(connections: cluster.workers.map { RemoteWorker(pool: cluster.pool, info: $0, jobID: jobID) },
                          shutdown: { await cluster.shutdown(reason: "job \(jobID) finished") })
    }

    /// `count` workers inside this process, each a `WorkerServer` with a `CalibrationHandler` over
    /// the in-process transport: the whole protocol (codec, validation, heartbeats) without sockets.
    public static func embedded(count: Int, configuration: PoolConfiguration = PoolConfiguration(), jobID: String) async throws -> JobWorkers {
        let cluster = try await WorkerCluster.startEmbedded(count: count, makeHandler: { _ in CalibrationHandler() }, configuration: configuration)
        return JobWorkers(connections: cluster.workers.map { RemoteWorker(pool: cluster.pool, info: $0, jobID: jobID) },
                          shutdown: { await cluster.shutdown(reason: "job \(jobID) finished") })
    }

    /// `count` in-process workers called directly (no protocol at all).
    public static func inProcess(count: Int) -> JobWorkers {
        JobWorkers(connections: (0..<count).map { InProcessWorker(index: $0) }, shutdown: {})
    }

    /// A job identifier unique enough to tell jobs apart in workers' logs.
    public static func newJobID() -> String {
        "job-\(UInt64(Date().timeIntervalSince1970 * 1000))-\(UInt32.random(in: 0...UInt32.max))"
    }
}
