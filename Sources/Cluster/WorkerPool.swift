import Tensors
import Transport
import Wire

/// The coordinator's side of the cluster: connects to workers, performs the handshake, keeps
/// heartbeats going both ways, sends requests and matches replies to them, and detects lost workers.
///
/// Requests carry a job id, a task id and an attempt; a reply is matched by (worker, task id,
/// attempt). A reply nobody waits for (late, duplicate, from an abandoned attempt) is logged and
/// dropped. Anything invalid from a worker — a message that fails validation, a message only a
/// coordinator sends, an unknown job, a reply of the wrong type — drops that worker: it is told
/// why (an `Error` message), disconnected, reported as `.lost`, and its pending requests fail.
/// The pool and every other worker carry on.
public actor WorkerPool {
    struct Pending {
        let requestType: MessageType
        let jobID: String
        /// The request's encoded size (envelope and frames).
        var bytes = 0
        let continuation: CheckedContinuation<Reply, any Error>
    }

    struct TaskKey: Hashable {
        let taskID: UInt64
        let attempt: UInt32
    }

    enum Phase {
        case handshaking(started: ContinuousClock.Instant, continuation: CheckedContinuation<WorkerInfo, any Error>)
        case live(WorkerInfo)
        case lost
    }

    struct Record {
        let id: WorkerID
        let endpoint: String
        let peer: PeerID
        var phase: Phase
        var lastHeard: ContinuousClock.Instant
        var pending: [TaskKey: Pending] = [:]
        /// Whether the connection is CURVE (a failed handshake then likely means a wrong key).
        var curve = false
    }

    /// Membership changes: joins and losses. One consumer; finishes at `shutdown`.
    public nonisolated let events: AsyncStream<PoolEvent>
    let eventSink: AsyncStream<PoolEvent>.Continuation
    let transport: any Transport
    let configuration: PoolConfiguration
    let log: Log
    var records: [WorkerID: Record] = [:]
    var workerByPeer: [PeerID: WorkerID] = [:]
    var jobs: Set<String> = []
    var nextTaskID: UInt64 = 1
    var heartbeatSequence: UInt64 = 0
    /// Lost workers heard from again (logged once each).
    var heardAfterLoss: Set<WorkerID> = []
    var lastTick = ContinuousClock.now
    var background: [Task<Void, Never>] = []
    var isShutDown = false

    /// A pool over `transport`, which it owns from now on (and closes at `shutdown`).
    /// - Precondition: `configuration.validate()` passes.
    public init(transport: any Transport, configuration: PoolConfiguration = PoolConfiguration(), log: Log = .standardError(label: "coordinator")) {
        precondition((try? configuration.validate()) != nil, "invalid pool configuration")
        self.transport = transport
        self.configuration = configuration
        self.log = log
        (events, eventSink) = AsyncStream.makeStream(of: PoolEvent.self)
    }

    /// Starts reading inbound messages and sending heartbeats (once).
    private func startIfNeeded() {
        guard background.isEmpty, !isShutDown else { return }
        lastTick = .now
        let inbound = transport.inbound
        background.append(Task { [weak self] in
            for await message in inbound {
                guard let self else { return }
                await self.receive(message)
            }
        })
        let interval = configuration.heartbeatInterval
        background.append(Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                await self.tick()
            }
        })
    }

    // MARK: Membership

    /// Connects to the worker at `endpoint` and performs the handshake.
    /// - Returns: the worker, now live.
    /// - Throws: `ClusterError`: `.versionMismatch` naming both versions, `.handshakeFailed`
    ///   (refused, or no answer within `handshakeTimeout`), `.configuration` (a malformed endpoint).
    /// - Parameter serverKey: the worker's CURVE public key (Z85), for an authenticated and
    ///   encrypted connection (the transport needs this side's key pair); nil: plain.
    public func connect(to endpoint: String, serverKey: String? = nil) async throws -> WorkerInfo {
        guard !isShutDown else { throw ClusterError(.shutdown, "cannot connect to \(endpoint): the pool is shut down") }
        startIfNeeded()
        let peer: PeerID
        do { peer = try await transport.connect(to: endpoint, serverKey: serverKey) } catch {
            throw ClusterError(.configuration, "cannot connect to \(endpoint): \(error)")
        }
        let id = WorkerID(records.count)
        return try await withCheckedThrowingContinuation { continuation in
            let now = ContinuousClock.now
            records[id] = Record(id: id, endpoint: endpoint, peer: peer, phase: .handshaking(started: now, continuation: continuation), lastHeard: now, curve: serverKey != nil)
            workerByPeer[peer] = id
            let hello = Hello(
                coordinator: configuration.name, heartbeatIntervalMilliseconds: configuration.heartbeatInterval.milliseconds,
                heartbeatTimeoutMilliseconds: configuration.heartbeatTimeout.milliseconds)
            send(Message(.hello(hello), protocolVersion: configuration.protocolVersion), to: id)
        }
    }

    /// Connects to every endpoint concurrently, without CURVE.
    /// - Returns: one result per endpoint, in order.
    public func connect(to endpoints: [String]) async -> [Result<WorkerInfo, ClusterError>] {
        await connect(to: endpoints.map { WorkerEndpoint(endpoint: $0, source: $0) })
    }

    /// Connects to every endpoint concurrently, each with its CURVE key if it has one.
    /// - Returns: one result per endpoint, in order.
    public func connect(to endpoints: [WorkerEndpoint]) async -> [Result<WorkerInfo, ClusterError>] {
        await withTaskGroup(of: (Int, Result<WorkerInfo, ClusterError>).self) { group in
            for (index, worker) in endpoints.enumerated() {
                let endpoint = worker.endpoint
                group.addTask {
                    do { return (index, .success(try await self.connect(to: endpoint, serverKey: worker.serverKey))) } catch let error as ClusterError {
                        return (index, .failure(error))
                    } catch { return (index, .failure(ClusterError(.handshakeFailed, "\(endpoint): \(error)"))) }
                }
            }
            var results = [Result<WorkerInfo, ClusterError>?](repeating: nil, count: endpoints.count)
            for await (index, result) in group { results[index] = result }
            return results.map { $0! }
        }
    }

    /// The live workers, by id.
    public var workers: [WorkerInfo] {
        records.values.sorted { $0.id < $1.id }.compactMap { record in
            if case .live(let info) = record.phase { return info }
            return nil
        }
    }

    // MARK: Requests

    /// Sends a request to `worker` and waits for its reply.
    /// - Parameters:
    ///   - body: a request: JobSpec, LoadLayer, CaptureStats, SolveRequest, ApplyLayer, Evaluate or Echo.
    ///   - tensors: frames sent with it (not copied).
    ///   - jobID: the job; required for everything but Echo.
    ///   - taskID: the caller's task id (nil: the pool picks a fresh one); with `attempt`, what the reply is matched by.
    /// - Returns: the reply, whose body has `body.type.replyType`.
    /// - Throws: `ClusterError`: `.remote` when the worker answers with an Error (its report
    ///   attached), `.workerLost` when the worker is lost before it answers, `.invalidRequest`
    ///   for an unknown worker or a task already pending, `.shutdown`.
    public func request(
        _ body: Body, tensors: [NamedTensor] = [], to worker: WorkerID, jobID: String = "", taskID: UInt64? = nil, attempt: UInt32 = 0
    ) async throws -> Reply {
        try await request(Message(body, tensors: tensors), to: worker, jobID: jobID, taskID: taskID, attempt: attempt)
    }

    /// Sends `message` (its body and frames, as made once by the caller: a job request's frames
    /// and their checksums are not computed again) as a request under `jobID`, `taskID` and
    /// `attempt`, and waits for the reply; otherwise as `request(_:tensors:to:jobID:taskID:attempt:)`.
    public func request(
        _ message: Message, to worker: WorkerID, jobID: String = "", taskID: UInt64? = nil, attempt: UInt32 = 0
    ) async throws -> Reply {
        let type = message.type
        precondition(type.replyType != nil && type != .hello, "\(type) is not a request")
        precondition(type == .echo || !jobID.isEmpty, "\(type) needs a job id")
        guard !isShutDown else { throw ClusterError(.shutdown, "\(type) to \(worker): the pool is shut down") }
        guard let record = records[worker] else { throw ClusterError(.invalidRequest, "\(type) to \(worker): no such worker") }
        guard case .live = record.phase else {
            throw ClusterError(.workerLost, "\(type) to \(worker) (\(record.endpoint)): the worker was lost earlier")
        }
        let task = taskID ?? allocateTaskID()
        let key = TaskKey(taskID: task, attempt: attempt)
        guard record.pending[key] == nil else {
            throw ClusterError(.invalidRequest, "\(type) to \(worker): task \(task) attempt \(attempt) is already pending")
        }
        if !jobID.isEmpty { jobs.insert(jobID) }
        return try await withCheckedThrowingContinuation { continuation in
            records[worker]?.pending[key] = Pending(requestType: type, jobID: jobID, continuation: continuation)
            var stamped = message
            (stamped.jobID, stamped.taskID, stamped.attempt, stamped.protocolVersion) = (jobID, task, attempt, configuration.protocolVersion)
            let bytes = send(stamped, to: worker)
            records[worker]?.pending[key]?.bytes = bytes
        }
    }

    /// Sends the same request to every live worker (each with its own task id) and waits for all.
    /// - Returns: each worker's reply or failure.
    public func broadcast(_ body: Body, tensors: [NamedTensor] = [], jobID: String = "", attempt: UInt32 = 0) async -> [WorkerID: Result<Reply, ClusterError>] {
        let targets = workers.map(\.id)
        return await withTaskGroup(of: (WorkerID, Result<Reply, ClusterError>).self) { group in
            for worker in targets {
                group.addTask {
                    do {
                        return (worker, .success(try await self.request(body, tensors: tensors, to: worker, jobID: jobID, attempt: attempt)))
                    } catch let error as ClusterError { return (worker, .failure(error)) } catch {
                        return (worker, .failure(ClusterError(.workerLost, "\(worker): \(error)")))
                    }
                }
            }
            var results: [WorkerID: Result<Reply, ClusterError>] = [:]
            for await (worker, result) in group { results[worker] = result }
            return results
        }
    }

    /// Ends worker `id`'s session without losing it: sends Shutdown (the process goes on
    /// serving), fails its pending requests with `.shutdown`, and drops what it sends from now on.
    /// No loss is reported. Nothing happens for a worker that is not live.
    public func dismiss(_ id: WorkerID, reason: String) {
        guard let record = records[id], case .live = record.phase else { return }
        send(Message(.shutdown(Shutdown(reason: reason, exitProcess: false)), protocolVersion: configuration.protocolVersion), to: id)
        fail(id, ClusterError(.shutdown, "\(record.endpoint): dismissed (\(reason))"))
        records[id]?.phase = .lost
        transport.disconnect(record.peer)
        log.info("\(id) (\(record.endpoint)) dismissed: \(reason)")
    }

    /// Ends every session: sends Shutdown (asking worker processes to exit when `exitProcesses`),
    /// fails pending requests with `.shutdown`, stops heartbeats, closes the transport (queued
    /// messages get its linger period to leave) and finishes `events`.
    public func shutdown(reason: String, exitProcesses: Bool) async {
        guard !isShutDown else { return }
        isShutDown = true
        for task in background { task.cancel() }
        for id in records.keys.sorted() {
            guard let record = records[id] else { continue }
            if case .live = record.phase {
                send(Message(.shutdown(Shutdown(reason: reason, exitProcess: exitProcesses)), protocolVersion: configuration.protocolVersion), to: id)
            }
            fail(id, ClusterError(.shutdown, "\(record.endpoint): the pool is shutting down (\(reason))"))
            records[id]?.phase = .lost
        }
        await transport.close()
        eventSink.finish()
    }

    private func allocateTaskID() -> UInt64 {
        defer { nextTaskID += 1 }
        return nextTaskID
    }
}
