/// Where workers that join or leave a running job come from: the coordinator's hosts file,
/// re-read when it changes or on SIGHUP (`HostsFileJoining`), or a test's script. The job asks at
/// every layer boundary; the workers it gets take a share of the samples from that layer on, and
/// those it is told to let go hand theirs to the others and leave.
public protocol WorkerJoining: Sendable {
    /// What changed since the last call, given the job's live workers at `live` (their
    /// addresses): workers ready to join now — connected and past their handshake, none at one of
    /// `live` — and the live workers to let go. A worker that cannot be reached is left out (and
    /// said so), not an error of the job.
    func changes(live: Set<String>) async -> WorkerChanges
}

/// Workers to take into a job and workers to let go, at one layer boundary.
public struct WorkerChanges: Sendable {
    public var joining: [any WorkerConnection]
    /// Addresses of live workers that are to leave (e.g. no longer in the hosts file).
    public var leaving: Set<String>

    public init(joining: [any WorkerConnection] = [], leaving: Set<String> = []) {
        self.joining = joining
        self.leaving = leaving
    }
}
