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
    private struct Pending {
        let requestType: MessageType
        let jobID: String
        let continuation: CheckedContinuation<Reply, any Error>
    }

    private struct TaskKey: Hashable {
        let taskID: UInt64
        let attempt: UInt32
    }

    private enum Phase {
        case handshaking(started: ContinuousClock.Instant, continuation: CheckedContinuation<WorkerInfo, any Error>)
        case live(WorkerInfo)
        case lost
    }

    private struct Record {
        let id: WorkerID
        let endpoint: String
        let peer: PeerID
        var phase: Phase
        var lastHeard: ContinuousClock.Instant
        var pending: [TaskKey: Pending] = [:]
    }

    /// Membership changes: joins and losses. One consumer; finishes at `shutdown`.
    public nonisolated let events: AsyncStream<PoolEvent>
    private let eventSink: AsyncStream<PoolEvent>.Continuation
    private let transport: any Transport
    private let configuration: PoolConfiguration
    private let log: Log
    private var records: [WorkerID: Record] = [:]
    private var workerByPeer: [PeerID: WorkerID] = [:]
    private var jobs: Set<String> = []
    private var nextTaskID: UInt64 = 1
    private var heartbeatSequence: UInt64 = 0
    private var lastTick = ContinuousClock.now
    private var background: [Task<Void, Never>] = []
    private var isShutDown = false

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
    public func connect(to endpoint: String) async throws -> WorkerInfo {
        guard !isShutDown else { throw ClusterError(.shutdown, "cannot connect to \(endpoint): the pool is shut down") }
        startIfNeeded()
        let peer: PeerID
        do { peer = try await transport.connect(to: endpoint) } catch {
            throw ClusterError(.configuration, "cannot connect to \(endpoint): \(error)")
        }
        let id = WorkerID(records.count)
        return try await withCheckedThrowingContinuation { continuation in
            let now = ContinuousClock.now
            records[id] = Record(id: id, endpoint: endpoint, peer: peer, phase: .handshaking(started: now, continuation: continuation), lastHeard: now)
            workerByPeer[peer] = id
            let hello = Hello(
                coordinator: configuration.name, heartbeatIntervalMilliseconds: configuration.heartbeatInterval.milliseconds,
                heartbeatTimeoutMilliseconds: configuration.heartbeatTimeout.milliseconds)
            send(Message(.hello(hello), protocolVersion: configuration.protocolVersion), to: id)
        }
    }

    /// Connects to every endpoint concurrently.
    /// - Returns: one result per endpoint, in order.
    public func connect(to endpoints: [String]) async -> [Result<WorkerInfo, ClusterError>] {
        await withTaskGroup(of: (Int, Result<WorkerInfo, ClusterError>).self) { group in
            for (index, endpoint) in endpoints.enumerated() {
                group.addTask {
                    do { return (index, .success(try await self.connect(to: endpoint))) } catch let error as ClusterError {
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
        let type = body.type
        precondition(type.replyType != nil && type != .hello, "\(type) is not a request")
        precondition(type == .echo || !jobID.isEmpty, "\(type) needs a job id")
        guard !isShutDown else { throw ClusterError(.shutdown, "\(type) to \(worker): the pool is shut down") }
        guard let record = records[worker], case .live = record.phase else {
            throw ClusterError(.invalidRequest, "\(type) to \(worker): no such live worker")
        }
        let task = taskID ?? allocateTaskID()
        let key = TaskKey(taskID: task, attempt: attempt)
        guard record.pending[key] == nil else {
            throw ClusterError(.invalidRequest, "\(type) to \(worker): task \(task) attempt \(attempt) is already pending")
        }
        if !jobID.isEmpty { jobs.insert(jobID) }
        return try await withCheckedThrowingContinuation { continuation in
            records[worker]?.pending[key] = Pending(requestType: type, jobID: jobID, continuation: continuation)
            send(Message(body, tensors: tensors, jobID: jobID, taskID: task, attempt: attempt, protocolVersion: configuration.protocolVersion), to: worker)
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

// MARK: Inbound messages, heartbeats, losses

extension WorkerPool {
    private func receive(_ inbound: Inbound) {
        guard let id = workerByPeer[inbound.peer], let record = records[id] else { return }
        if case .lost = record.phase { return }
        records[id]?.lastHeard = .now
        let message: Message
        do {
            message = try WireCodec.decode(inbound.frames, limits: configuration.limits, protocolVersion: configuration.protocolVersion)
        } catch {
            drop(id, report: error.errorReport, reason: "sent an invalid message: \(error)")
            return
        }
        switch record.phase {
        case .handshaking(let started, let continuation):
            handshakeReply(message, record: record, started: started, continuation: continuation)
        case .live:
            liveMessage(message, record: record)
        case .lost:
            break
        }
    }

    private func handshakeReply(
        _ message: Message, record: Record, started: ContinuousClock.Instant, continuation: CheckedContinuation<WorkerInfo, any Error>
    ) {
        let ours = configuration.protocolVersion
        let failure: ClusterError
        switch message.body {
        case .welcome(let welcome) where message.protocolVersion == ours:
            let info = WorkerInfo(
                id: record.id, endpoint: record.endpoint, capabilities: welcome.capabilities, workerDescription: welcome.worker,
                handshakeTime: ContinuousClock.now - started)
            records[record.id]?.phase = .live(info)
            log.info("\(info): joined; \(welcome.capabilities.cores) cores, \(welcome.capabilities.threads) threads, host \(welcome.capabilities.hostname) pid \(welcome.capabilities.pid)")
            eventSink.yield(.joined(info))
            continuation.resume(returning: info)
            return
        case .welcome:
            failure = ClusterError(.versionMismatch, "the worker at \(record.endpoint) speaks protocol version \(message.protocolVersion); this coordinator speaks version \(ours)")
        case .error(let report) where report.code == .versionMismatch:
            failure = ClusterError(.versionMismatch, "the worker at \(record.endpoint) (protocol version \(message.protocolVersion)) refused this coordinator (version \(ours)): \(report.message)", report: report)
        case .error(let report):
            failure = ClusterError(.handshakeFailed, "the worker at \(record.endpoint) refused the handshake: \(report)", report: report)
        default:
            failure = ClusterError(.handshakeFailed, "the worker at \(record.endpoint) answered Hello with \(message.type)")
        }
        log.error(failure.message)
        endHandshake(record, failure)
    }

    private func liveMessage(_ message: Message, record: Record) {
        let type = message.type
        guard type.isSentByWorker, type != .welcome else {
            drop(record.id, report: ErrorReport(code: .unexpected, message: "a worker does not send \(type)"), reason: "sent \(type), which a worker never sends")
            return
        }
        if case .heartbeat = message.body { return }
        if !message.jobID.isEmpty && !jobs.contains(message.jobID) {
            drop(record.id, report: ErrorReport(code: .unknownJob, message: "job \(message.jobID) is unknown to this coordinator"), reason: "sent \(message.summary) for an unknown job")
            return
        }
        let key = TaskKey(taskID: message.taskID, attempt: message.attempt)
        guard let pending = record.pending[key] else {
            if case .error(let report) = message.body, message.taskID == 0 {
                lose(record.id, reason: report.code.endsSession ? "it ended the session: \(report)" : "it reported: \(report)")
            } else {
                log.info("\(record.id) (\(record.endpoint)): late or duplicate \(message.summary) dropped (no request waits for it)")
            }
            return
        }
        guard pending.jobID == message.jobID else {
            drop(record.id, report: ErrorReport(code: .unknownJob, message: "task \(message.taskID) belongs to job \(pending.jobID), not \(message.jobID)"), reason: "answered task \(message.taskID) of job \(pending.jobID) under job \(message.jobID)")
            return
        }
        records[record.id]?.pending[key] = nil
        if case .error(let report) = message.body {
            pending.continuation.resume(throwing: ClusterError(.remote, "\(record.id) (\(record.endpoint)) failed \(pending.requestType) task \(message.taskID) attempt \(message.attempt): \(report)", report: report))
            if report.code.endsSession { lose(record.id, reason: "it ended the session: \(report)") }
            return
        }
        guard pending.requestType.replyType == type else {
            pending.continuation.resume(throwing: ClusterError(.workerLost, "\(record.id) (\(record.endpoint)) answered \(pending.requestType) with \(type)"))
            drop(record.id, report: ErrorReport(code: .unexpected, message: "\(type) does not answer \(pending.requestType)"), reason: "answered \(pending.requestType) with \(type)")
            return
        }
        pending.continuation.resume(returning: Reply(worker: record.id, message: message))
    }

    /// Every heartbeat interval: heartbeats to live workers; losses and handshake timeouts detected.
    ///
    /// Silence is measured in time the pool could listen: when this tick runs late (this process
    /// was too busy to run it, and replies may be waiting unread), the lateness is not counted
    /// against the workers — otherwise a long merge on the coordinator would "lose" every worker.
    private func tick() {
        let now = ContinuousClock.now
        let lateness = now - lastTick - configuration.heartbeatInterval
        lastTick = now
        if lateness > configuration.heartbeatInterval {
            log.debug("heartbeat check ran \(lateness.seconds) s late; not counted as worker silence")
            for id in records.keys { records[id]?.lastHeard += lateness }
        }
        heartbeatSequence += 1
        for record in records.values.sorted(by: { $0.id < $1.id }) {
            switch record.phase {
            case .handshaking(let started, _) where now - started > configuration.handshakeTimeout:
                let failure = ClusterError(.handshakeFailed, "no answer from \(record.endpoint) within \(configuration.handshakeTimeout.seconds) s (is a worker listening there?)")
                log.error(failure.message)
                endHandshake(record, failure)
            case .live where now - record.lastHeard > configuration.heartbeatTimeout:
                let silence = (now - record.lastHeard).seconds
                lose(record.id, reason: "no message for \(Double(Int(silence * 10)) / 10) s (heartbeat timeout \(configuration.heartbeatTimeout.seconds) s)")
            case .live:
                send(Message(.heartbeat(Heartbeat(sequence: heartbeatSequence)), protocolVersion: configuration.protocolVersion), to: record.id)
            default:
                break
            }
        }
    }

    private func send(_ message: Message, to id: WorkerID) {
        guard let record = records[id] else { return }
        do { try transport.send(WireCodec.encode(message), to: record.peer) } catch {
            lose(id, reason: "cannot send to it: \(error)")
        }
    }

    /// Tells the worker why (best effort), then loses it.
    private func drop(_ id: WorkerID, report: ErrorReport, reason: String) {
        send(Message(.error(report), protocolVersion: configuration.protocolVersion), to: id)
        lose(id, reason: reason)
    }

    private func endHandshake(_ record: Record, _ failure: ClusterError) {
        records[record.id]?.phase = .lost
        transport.disconnect(record.peer)
        if case .handshaking(_, let continuation) = record.phase { continuation.resume(throwing: failure) }
    }

    /// Marks a worker lost: disconnects it, fails its pending requests, reports the loss.
    private func lose(_ id: WorkerID, reason: String) {
        guard let record = records[id] else { return }
        switch record.phase {
        case .lost: return
        case .handshaking:
            endHandshake(record, ClusterError(.handshakeFailed, "\(record.endpoint): \(reason)"))
            return
        case .live: break
        }
        records[id]?.phase = .lost
        transport.disconnect(record.peer)
        log.error("\(id) (\(record.endpoint)) lost: \(reason)")
        fail(id, ClusterError(.workerLost, "\(id) (\(record.endpoint)) lost: \(reason)"))
        eventSink.yield(.lost(id, endpoint: record.endpoint, reason: reason))
    }

    /// Fails everything waiting on worker `id`: its pending requests and an unfinished handshake.
    private func fail(_ id: WorkerID, _ error: ClusterError) {
        guard let record = records[id] else { return }
        records[id]?.pending.removeAll()
        for (_, request) in record.pending { request.continuation.resume(throwing: error) }
        if case .handshaking = record.phase { endHandshake(record, error) }
    }
}
