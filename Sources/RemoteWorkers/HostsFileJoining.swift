import Cluster
import Foundation
import Synchronization
import JobProtocol

/// Workers joining and leaving a job by its hosts file (docs/ARCHITECTURE.md, "Joining workers"):
/// at every layer boundary (`changes`) the file is read; when it changed, or a re-read was asked
/// for (`requestReread`, SIGHUP), each entry that is not a live worker of the job is connected,
/// and those past their handshake join there; live workers no longer listed leave (asked again
/// at every later boundary until they have: the job may keep one it cannot do without). An entry that cannot be reached holds that boundary up
/// to the handshake timeout, is logged, and is tried again only after the next change or SIGHUP.
/// A lost worker listed in the file comes back only this way — as a new worker — never into its
/// old place.
public final class HostsFileJoining: WorkerJoining {
    private let pool: WorkerPool
    private let watch: HostsFileWatch
    private let log: Log
    /// The addresses of the last reading of the file (nil before the first change): live workers
    /// not among them are told to leave at every boundary until they have.
    private let listed = Mutex<Set<String>?>(nil)

    public init(pool: WorkerPool, watch: HostsFileWatch, log: Log = .standardError(label: "coordinator")) {
        self.pool = pool
        self.watch = watch
        self.log = log
    }

    /// Makes the next layer boundary read the file even if it did not change (SIGHUP).
    public func requestReread() {
        watch.requestReread()
    }

    public func changes(live: Set<String>) async -> WorkerChanges {
        guard let result = watch.poll() else {
            // Unchanged: the workers the last reading left out and could not let go yet still go.
            return WorkerChanges(leaving: listed.withLock { $0.map { live.subtracting($0) } } ?? [])
        }
        let endpoints: [WorkerEndpoint]
        switch result {
        case .failure(let error):
            log.warning("\(error.message); the job keeps its workers")
            return WorkerChanges()
        case .success(let value):
            endpoints = value
        }
        let addresses = Set(endpoints.map(\.endpoint))
        listed.withLock { $0 = addresses }
        let leaving = live.subtracting(addresses)
        if !leaving.isEmpty {
            log.info("hosts file \(watch.path): \(leaving.sorted().joined(separator: ", ")) no longer listed; they leave the job")
        }
        let new = endpoints.filter { !live.contains($0.endpoint) }
        guard !new.isEmpty else { return WorkerChanges(leaving: leaving) }
        log.info("hosts file \(watch.path): connecting \(new.map(\.endpoint).joined(separator: ", "))")
        var joined: [any WorkerConnection] = []
        for (endpoint, result) in zip(new, await pool.connect(to: new)) {
            switch result {
            case .success(let info): joined.append(RemoteWorker(pool: pool, info: info))
            case .failure(let error): log.warning("\(endpoint.source): \(endpoint.endpoint) did not join: \(error.message)")
            }
        }
        return WorkerChanges(joining: joined, leaving: leaving)
    }
}
