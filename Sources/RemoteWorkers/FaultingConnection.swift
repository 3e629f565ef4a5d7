import Foundation
import JobProtocol
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The coordinator's side of `--fault` (hidden; docs/ARCHITECTURE.md, "Fault injection"): the
/// coordinator SIGKILLs itself just before it sends the first request its `FaultSpec` matches to
/// any worker — a coordinator lost in a chosen phase, for tests of `--resume` on real processes.
/// Kill is the only action: a coordinator that hangs or exits is not a case the job handles
/// differently. One of these is shared by all the job's connections, so it fires once.
public final class CoordinatorFault: Sendable {
    public let spec: FaultSpec
    private let fired = Mutex(false)
    private let perform: @Sendable (FaultSpec, WorkerRequest, String) -> Void

    /// - Parameter perform: what firing does, given the request and the worker's address (tests
    ///   record it); default: SIGKILL this process.
    public init(_ spec: FaultSpec, perform: @escaping @Sendable (FaultSpec, WorkerRequest, String) -> Void = CoordinatorFault.killThisProcess) {
        self.spec = spec
        self.perform = perform
    }

    /// Parses `kill:PHASE:LAYER`.
    /// - Throws: `FaultSpecError` naming `--fault` and the bad part.
    public convenience init(parsing text: String) throws(FaultSpecError) {
        self.init(try FaultSpec(parsing: text, actions: [.kill]))
    }

    /// Call just before sending `request` to the worker at `address`: fires if this is the
    /// first request, to any worker, that the spec matches.
    public func before(_ request: WorkerRequest, to address: String) {
        guard spec.matches(request) else { return }
        let first = fired.withLock { fired in
            defer { fired = true }
            return !fired
        }
        if first { perform(spec, request, address) }
    }

    /// Says so on standard error (what a test reads when something goes wrong), then SIGKILL.
    public static func killThisProcess(_ spec: FaultSpec, before request: WorkerRequest, to address: String) {
        let layer = request.layer.map { " of layer \($0)" } ?? ""
        FileHandle.standardError.write(Data("coordinator: --fault \(spec): kill before sending \(request.kind.rawValue)\(layer) to \(address)\n".utf8))
        raise(SIGKILL)
    }
}

/// A connection with a `CoordinatorFault` in front: each request passes the fault, then goes
/// to the worker unchanged.
public struct FaultingConnection: WorkerConnection {
    public let inner: any WorkerConnection
    public let fault: CoordinatorFault

    public init(_ inner: any WorkerConnection, fault: CoordinatorFault) {
        self.inner = inner
        self.fault = fault
    }

    public var address: String { inner.address }
    public var capacity: Int { inner.capacity }

    public func send(_ request: WorkerRequest) async throws -> WorkerReply {
        fault.before(request, to: inner.address)
        return try await inner.send(request)
    }

    public func traffic() async -> WorkerTraffic { await inner.traffic() }
}

extension JobWorkers {
    /// These workers with `fault` in front of every connection; unchanged without one.
    public func injecting(_ fault: CoordinatorFault?) -> JobWorkers {
        guard let fault else { return self }
        return JobWorkers(connections: connections.map { FaultingConnection($0, fault: fault) }, shutdown: shutdown, joining: joining)
    }
}
