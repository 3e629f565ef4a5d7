/// When a heartbeat timer that ran late means this process stalled, and how much of the
/// silence it saw is then not held against the peer.
///
/// Both ends hear a peer through the transport's own thread (`Transport.lastReceived(from:)`),
/// which records arrivals whether or not this side's timer runs on time; so a timer that is a
/// little late under load (hundreds of milliseconds on a busy machine) says nothing about the
/// peer, and its lateness is silence like any other. Only a stall — the process stopped
/// (SIGSTOP, swapped out) or starved for a large part of the timeout — may have kept the
/// transport's thread from reading what the peer sent; such a stall's whole lateness is forgiven.
///
/// Forgiving every late tick instead (as before) let a dead peer live forever on a loaded
/// machine: with 100 ms beats running 300 ms apart, silence grew 100 ms per tick, a third of
/// real time, and a 10 s timeout took 30 s or more.
enum Stall {
    /// The silence to forgive for a timer that fired `lateness` after it was due: all of it
    /// when `lateness` is at least a quarter of `timeout` (and at least one `interval`),
    /// otherwise none.
    static func forgiven(lateness: Duration, interval: Duration, timeout: Duration) -> Duration {
        lateness >= max(interval, timeout / 4) ? lateness : .zero
    }
}
