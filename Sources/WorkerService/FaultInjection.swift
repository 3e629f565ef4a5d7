import Foundation
import JobProtocol
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The worker's side of `--fault` (hidden; docs/ARCHITECTURE.md, "Fault injection"): just before
/// this worker would handle the first request its `FaultSpec` matches, it performs the spec's
/// action on itself — SIGKILL, SIGSTOP (hung until SIGCONT, then it goes on with the request), or
/// exit status 3 — so that its work for that request is never sent. Once per process.
public final class FaultInjection: Sendable {
    public let spec: FaultSpec
    private let fired = Mutex(false)
    private let perform: @Sendable (FaultSpec, WorkerRequest) -> Void

    /// - Parameter perform: what firing does (tests record it); default: the action, on this process.
    public init(_ spec: FaultSpec, perform: @escaping @Sendable (FaultSpec, WorkerRequest) -> Void = FaultInjection.performOnThisProcess) {
        self.spec = spec
        self.perform = perform
    }

    /// Parses `ACTION:PHASE:LAYER` (every action).
    /// - Throws: `FaultSpecError` naming `--fault` and the bad part.
    public convenience init(parsing text: String) throws(FaultSpecError) {
        self.init(try FaultSpec(parsing: text))
    }

    /// Call just before handling `request`: fires if this is the first request the spec matches.
    public func before(_ request: WorkerRequest) {
        guard spec.matches(request) else { return }
        let first = fired.withLock { fired in
            defer { fired = true }
            return !fired
        }
        if first { perform(spec, request) }
    }

    /// Says what it does on standard error (the log a test reads when something goes wrong), then
    /// does it. `_exit`, not `exit`: the process ends at once, as a crash would, without running
    /// exit handlers while the transport's threads are busy.
    public static func performOnThisProcess(_ spec: FaultSpec, before request: WorkerRequest) {
        let layer = request.layer.map { " of layer \($0)" } ?? ""
        FileHandle.standardError.write(Data("worker: --fault \(spec): \(spec.action) before \(request.kind.rawValue)\(layer)\n".utf8))
        switch spec.action {
        case .kill: raise(SIGKILL)
        case .stop: raise(SIGSTOP)
        case .exit: _exit(3)
        }
    }
}
