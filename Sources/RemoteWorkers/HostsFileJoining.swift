import Cluster
import Foundation
import JobProtocol

/// Workers joining a job from its hosts file (docs/ARCHITECTURE.md, "Joining workers"): at every
/// layer boundary (`joiners`) the file is read; when it changed, or a re-read was asked for
/// (`requestReread`, SIGHUP), each entry that is not a live worker of the job is connected, and
/// those past their handshake join there. An entry that cannot be reached holds that boundary up
/// to the handshake timeout, is logged, and is tried again only after the next change or SIGHUP.
/// A lost worker listed in the file comes back only this way — as a new worker — never into its
/// old place.
public final class HostsFileJoining: WorkerJoining {
    private let pool: WorkerPool
    private let watch: HostsFileWatch
    private let log: Log

    public init(pool: WorkerPool, watch: HostsFileWatch, log: Log = .standardError(label: "coordinator")) {
        self.pool = pool
        self.watch = watch
        self.log = log
    }

    /// Makes the next layer boundary read the file even if it did not change (SIGHUP).
    public func requestReread() {
        watch.requestReread()
    }

    public func joiners(excluding addresses: Set<String>) async -> [any WorkerConnection] {
        guard let result = watch.poll() else { return [] }
        let endpoints: [WorkerEndpoint]
        switch result {
        case .failure(let error):
            log.warning("\(error.message); the job keeps its workers")
            return []
        case .success(let value):
            endpoints = value
        }
        let new = endpoints.filter { !addresses.contains($0.endpoint) }
        guard !new.isEmpty else { return [] }
        log.info("hosts file \(watch.path): connecting \(new.map(\.endpoint).joined(separator: ", "))")
        var joined: [any WorkerConnection] = []
        for (endpoint, result) in zip(new, await pool.connect(to: new.map(\.endpoint))) {
            switch result {
            case .success(let info): joined.append(RemoteWorker(pool: pool, info: info))
            case .failure(let error): log.warning("\(endpoint.source): \(endpoint.endpoint) did not join: \(error.message)")
            }
        }
        return joined
    }
}
