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
    /// The server loops of embedded workers, awaited at shutdown.
    private let embedded: [Task<Void, Never>]
    /// Watches local worker processes: one that exits is lost at once, not after the heartbeat timeout.
    private let watcher: Task<Void, Never>?

    private init(
        pool: WorkerPool, localWorkers: LocalWorkers?, workers: [WorkerInfo], failures: [(endpoint: WorkerEndpoint, error: ClusterError)],
        embedded: [Task<Void, Never>] = [], watcher: Task<Void, Never>? = nil
    ) {
        self.pool = pool
        self.localWorkers = localWorkers
        self.workers = workers
        self.failures = failures
        self.embedded = embedded
        self.watcher = watcher
    }

    /// Every 100 ms, whether a local worker process has exited; its worker is then lost at once
    /// (its pending requests fail, the job recovers) rather than after the heartbeat timeout.
    private static func watch(_ children: [(pid: Int32, id: WorkerID)], pool: WorkerPool) -> Task<Void, Never> {
        Task {
            var running = children
            while !running.isEmpty && !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                for child in running where ChildProcesses.hasExited(child.pid) {
                    await pool.lose(child.id, reason: "its process (pid \(child.pid)) exited")
                }
                running.removeAll { ChildProcesses.hasExited($0.pid) }
            }
        }
    }

    /// `count` workers inside this process (the embedded mode): each a `WorkerServer` with its own
    /// handler from `makeHandler`, reached through an `InProcessTransport` — the same protocol,
    /// validation and heartbeats as over the network, without copies or sockets.
    /// - Throws: `ClusterError` if a handshake fails (it should not: a programming error).
    public static func startEmbedded(
        count: Int, threads: Int = 1, makeHandler: (Int) -> any WorkerHandler, configuration: PoolConfiguration = PoolConfiguration(),
        log: Log = .standardError(label: "coordinator")
    ) async throws -> WorkerCluster {
        precondition(count > 0, "at least one embedded worker")
        try configuration.validate()
        let network = InProcessNetwork()
        var tasks: [Task<Void, Never>] = []
        var names: [String] = []
        for index in 0..<count {
            let name = "embedded-worker-\(index)"
            let transport = InProcessTransport(network: network)
            _ = try await transport.listen(on: name)
            let server = WorkerServer(
                transport: transport, handler: makeHandler(index),
                configuration: ServerConfiguration(capabilities: .local(threads: threads), description: name, limits: configuration.limits),
                log: log.labeled("worker \(index)"))
            tasks.append(Task { await server.run() })
            names.append(name)
        }
        let pool = WorkerPool(transport: InProcessTransport(network: network), configuration: configuration, log: log)
        var workers: [WorkerInfo] = []
        for name in names {
            do { workers.append(try await pool.connect(to: name)) } catch {
                await pool.shutdown(reason: "an embedded worker did not join", exitProcesses: true)
                throw error
            }
        }
        return WorkerCluster(pool: pool, localWorkers: nil, workers: workers, failures: [], embedded: tasks)
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
        var transportConfiguration = transportConfiguration
        if let keys = configuration.keys { transportConfiguration.curve = CurveSettings(keys: keys) }
        if transportConfiguration.curve == nil, let keyed = endpoints.first(where: { $0.serverKey != nil }) {
            local?.stop()
            throw ClusterError(.configuration, "\(keyed.source): \(keyed.endpoint) has a key, and this coordinator none: give --key (a secret key file of `coordinator keygen`)")
        }
        let transport: ZMQTransport
        do { transport = try ZMQTransport(configuration: transportConfiguration) } catch {
            local?.stop()
            throw ClusterError(.configuration, "cannot start the transport: \(error)")
        }
        let pool = WorkerPool(transport: transport, configuration: configuration, log: log)
        let results = await pool.connect(to: endpoints)
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
        var watcher: Task<Void, Never>?
        if let local {
            let children = zip(local.processIDs, results).compactMap { pid, result in (try? result.get()).map { (pid: pid, id: $0.id) } }
            watcher = watch(children, pool: pool)
        }
        return WorkerCluster(pool: pool, localWorkers: local, workers: workers, failures: failures, watcher: watcher)
    }

    /// Ends the run: Shutdown to every worker (local and embedded workers are asked to exit), the
    /// transport closed, local worker processes stopped (SIGTERM, then SIGKILL after `grace`),
    /// embedded servers awaited.
    public func shutdown(reason: String, grace: Duration = .seconds(5)) async {
        watcher?.cancel()
        await pool.shutdown(reason: reason, exitProcesses: localWorkers != nil || !embedded.isEmpty)
        localWorkers?.stop(grace: grace)
        for task in embedded { await task.value }
    }
}
