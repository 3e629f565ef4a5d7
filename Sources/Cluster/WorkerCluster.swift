import Transport
import Wire

/// The workers of a run, ready for requests: listed in a hosts file, or started on this machine,
/// connected and past their handshake. What a coordinator command builds first and shuts down last.
public final class WorkerCluster: Sendable {
    /// Where the workers come from.
    public enum Source: Sendable {
        /// Workers listed in a hosts file (see `HostsFile`).
        case hostsFile(String)
        /// `count` worker processes started here, with `threads` compute threads each (nil: the
        /// cores divided among them), from `executable` (nil: `worker` next to this executable).
        case local(count: Int, threads: Int?, executable: String?)
    }

    public let pool: WorkerPool
    /// The local worker processes, for `.local`.
    public let localWorkers: LocalWorkers?
    /// Workers past their handshake, by id.
    public let workers: [WorkerInfo]
    /// Workers that could not be reached or refused the handshake (only with `requireAll: false`).
    public let failures: [(endpoint: WorkerEndpoint, error: ClusterError)]

    private init(pool: WorkerPool, localWorkers: LocalWorkers?, workers: [WorkerInfo], failures: [(endpoint: WorkerEndpoint, error: ClusterError)]) {
        self.pool = pool
        self.localWorkers = localWorkers
        self.workers = workers
        self.failures = failures
    }

    /// Starts or finds the workers, connects to all of them concurrently, and performs the handshakes.
    /// - Parameter requireAll: fail unless every worker joins (a job); false reports failures in
    ///   `failures` instead (a diagnostic such as `coordinator ping`).
    /// - Throws: `ClusterError`: `.configuration` for a bad hosts file or a missing executable;
    ///   with `requireAll`, the failed handshakes, one per line (everything started is stopped first).
    public static func start(
        _ source: Source, configuration: PoolConfiguration = PoolConfiguration(),
        transport transportConfiguration: ZMQTransport.Configuration = ZMQTransport.Configuration(),
        requireAll: Bool = true, log: Log = .standardError(label: "coordinator")
    ) async throws -> WorkerCluster {
        try configuration.validate()
        let endpoints: [WorkerEndpoint]
        var local: LocalWorkers?
        switch source {
        case .hostsFile(let path):
            endpoints = try HostsFile.load(path: path)
        case .local(let count, let threads, let executable):
            guard count > 0 else { throw ClusterError(.configuration, "--local-workers must be at least 1, found \(count)") }
            let started = try LocalWorkers(count: count, executable: executable, threads: threads)
            local = started
            endpoints = started.endpoints.enumerated().map { WorkerEndpoint(endpoint: $1, source: "local worker \($0) (pid \(started.processIDs[$0]))") }
        }
        let transport: ZMQTransport
        do { transport = try ZMQTransport(configuration: transportConfiguration) } catch {
            local?.stop()
            throw ClusterError(.configuration, "cannot start the transport: \(error)")
        }
        let pool = WorkerPool(transport: transport, configuration: configuration, log: log)
        let results = await pool.connect(to: endpoints.map(\.endpoint))
        var workers: [WorkerInfo] = []
        var failures: [(endpoint: WorkerEndpoint, error: ClusterError)] = []
        for (endpoint, result) in zip(endpoints, results) {
            switch result {
            case .success(let info): workers.append(info)
            case .failure(let error): failures.append((endpoint, error))
            }
        }
        if requireAll && !failures.isEmpty {
            await pool.shutdown(reason: "not every worker joined", exitProcesses: local != nil)
            local?.stop()
            let lines = failures.map { "  \($0.endpoint.source): \($0.error.message)" }
            throw ClusterError(failures.count == 1 ? failures[0].error.code : .handshakeFailed,
                               "\(failures.count) of \(endpoints.count) workers did not join:\n" + lines.joined(separator: "\n"))
        }
        return WorkerCluster(pool: pool, localWorkers: local, workers: workers, failures: failures)
    }

    /// Ends the run: Shutdown to every worker (local workers are asked to exit), the transport
    /// closed, and local worker processes stopped (SIGTERM, then SIGKILL after `grace`).
    public func shutdown(reason: String, grace: Duration = .seconds(5)) async {
        await pool.shutdown(reason: reason, exitProcesses: localWorkers != nil)
        localWorkers?.stop(grace: grace)
    }
}
