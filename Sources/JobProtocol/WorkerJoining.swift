/// Where workers that join a running job come from: the coordinator's hosts file, re-read when
/// it changes or on SIGHUP (`HostsFileJoining`), or a test's list. The job asks at every layer
/// boundary and gives the workers it gets a share of the samples from that layer on.
public protocol WorkerJoining: Sendable {
    /// Workers ready to join now — connected and past their handshake, none of them at one of
    /// `addresses` (the job's live workers) — or none. A worker that cannot be reached is left
    /// out (and said so), not an error of the job.
    func joiners(excluding addresses: Set<String>) async -> [any WorkerConnection]
}
