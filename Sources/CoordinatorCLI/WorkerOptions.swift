import ArgumentParser
import Cluster


/// Where a coordinator command finds its workers, and how it watches them.
struct WorkerOptions: ParsableArguments {
    @Option(help: "Hosts file: one host:port per line, optional slots=N and key=Z85 or keys=DIR (CURVE), # comments. Read again at every layer boundary: entries added mid-job join it (SIGHUP: read it even if unchanged).")
    var workers: String?

    @Option(help: "Start N worker processes on this machine instead (stopped at the end).")
    var localWorkers: Int?

    @Option(help: "Compute threads per local worker (default: the cores divided among them).")
    var workerThreads: Int?

    @Option(help: ArgumentHelp("Run N workers inside the coordinator process (no sockets; for debugging).", visibility: .hidden))
    var inProcessWorkers: Int?

    @Option(help: "Fewest workers a job goes on with: a lost worker's samples go to the others while at least this many are left; below, the job stops, naming the lost ones.")
    var minWorkers = 1

    @Option(help: "Seconds between heartbeats, both ways.")
    var heartbeatInterval = 1.0

    @Option(help: "Seconds of silence after which a worker is declared lost.")
    var heartbeatTimeout = 10.0

    @Option(help: "Seconds a worker may take to answer the handshake (local workers: to start).")
    var handshakeTimeout = 30.0

    @Option(help: "This coordinator's CURVE secret key file (from `coordinator keygen`), for workers listed with key=Z85 or keys=DIR: each connection is then authenticated both ways and encrypted.")
    var key: String?

    func validate() throws {
        guard [workers != nil, localWorkers != nil, inProcessWorkers != nil].filter({ $0 }).count <= 1 else {
            throw ValidationError("give one of --workers hosts.txt or --local-workers N")
        }
        if let inProcessWorkers, inProcessWorkers < 1 { throw ValidationError("--in-process-workers must be at least 1") }
        if let localWorkers, localWorkers < 1 { throw ValidationError("--local-workers must be at least 1, found \(localWorkers)") }
        if minWorkers < 1 { throw ValidationError("--min-workers must be at least 1, found \(minWorkers)") }
        if let workerThreads, workerThreads < 1 { throw ValidationError("--worker-threads must be at least 1, found \(workerThreads)") }
        guard heartbeatInterval > 0, heartbeatTimeout >= 2 * heartbeatInterval else {
            throw ValidationError("--heartbeat-timeout (\(heartbeatTimeout)) must be at least twice --heartbeat-interval (\(heartbeatInterval)), which must be positive")
        }
        // Workers hold a silent session for 10 minutes at most (ServerConfiguration.heartbeatBounds).
        guard heartbeatTimeout <= 600 else { throw ValidationError("--heartbeat-timeout must be at most 600 seconds (what workers accept), found \(heartbeatTimeout)") }
        guard handshakeTimeout > 0, handshakeTimeout <= 86_400 else { throw ValidationError("--handshake-timeout must be positive and at most 86400 seconds, found \(handshakeTimeout)") }
    }

    var source: WorkerCluster.Source {
        if let workers { return .hostsFile(workers) }
        return .local(count: localWorkers ?? 1, threads: workerThreads, executable: nil)
    }

    /// The pool's settings, with the key pair of `--key` read.
    /// - Throws: `ClusterError` naming the key file when it cannot be read or holds no valid key.
    func poolConfiguration() throws -> PoolConfiguration {
        PoolConfiguration(
            heartbeatInterval: .milliseconds(Int(heartbeatInterval * 1000)), heartbeatTimeout: .milliseconds(Int(heartbeatTimeout * 1000)),
            handshakeTimeout: .milliseconds(Int(handshakeTimeout * 1000)), keys: try key.map { path throws(ClusterError) in try CurveKeyFiles.keyPair(at: path) })
    }
}
