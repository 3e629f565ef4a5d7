import Tensors
import Transport
import Wire

/// The pool's reactions: inbound messages (handshake replies, replies matched to requests,
/// violations), the heartbeat tick, and losses. Runs on the pool actor.
extension WorkerPool {
    /// Validates and dispatches one inbound message from a worker.
    func receive(_ inbound: Inbound) {
        guard let id = workerByPeer[inbound.peer], let record = records[id] else { return }
        if case .lost = record.phase {
            // A dropped worker that is running again (it was stopped, or its link came back):
            // nothing it sends goes back into the job.
            if heardAfterLoss.insert(id).inserted {
                log.warning("\(id) (\(record.endpoint)) was lost; dropping what it sends from now on")
            }
            return
        }
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
            liveMessage(message, record: record, bytes: inbound.frames.reduce(0) { $0 + $1.bytes.count })
        case .lost:
            break
        }
    }

    func handshakeReply(
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

    func liveMessage(_ message: Message, record: Record, bytes: Int) {
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
            let failed = "\(record.id) (\(record.endpoint)) failed \(pending.requestType) task \(message.taskID) attempt \(message.attempt): \(report)"
            // A refusal that ends the session is a lost worker, not a failed request: e.g. a
            // worker restarted on the address, which gets the old session's request and knows no
            // session. The job goes on without it, as with any loss.
            pending.continuation.resume(throwing: ClusterError(report.code.endsSession ? .workerLost : .remote, failed, report: report))
            if report.code.endsSession { lose(record.id, reason: "it ended the session: \(report)") }
            return
        }
        guard pending.requestType.replyType == type else {
            pending.continuation.resume(throwing: ClusterError(.workerLost, "\(record.id) (\(record.endpoint)) answered \(pending.requestType) with \(type)"))
            drop(record.id, report: ErrorReport(code: .unexpected, message: "\(type) does not answer \(pending.requestType)"), reason: "answered \(pending.requestType) with \(type)")
            return
        }
        pending.continuation.resume(returning: Reply(worker: record.id, message: message, requestBytes: pending.bytes, replyBytes: bytes))
    }

    /// Every heartbeat interval: heartbeats to live workers; losses and handshake timeouts detected.
    ///
    /// A worker is heard from when one of its messages arrives or when the transport receives any
    /// part of one (`lastReceived(from:)`: a chunk of a large reply in transit), whichever is
    /// later: a worker visibly sending a 3 GB reply over a slow link is alive, although its
    /// heartbeats wait behind that reply. Silence is measured in time the pool could listen: when
    /// this tick runs late (this process was too busy to run it, and replies may be waiting
    /// unread), the lateness is not counted against the workers — otherwise a long merge on the
    /// coordinator would "lose" every worker.
    func tick() {
        let now = ContinuousClock.now
        let lateness = now - lastTick - configuration.heartbeatInterval
        lastTick = now
        if lateness > configuration.heartbeatInterval {
            log.debug("heartbeat check ran \(lateness.seconds) s late; not counted as worker silence")
            for id in records.keys {
                records[id]?.lastHeard += lateness
                // Nor against a handshake in progress: its Welcome may be waiting unread.
                if case .handshaking(let started, let continuation)? = records[id]?.phase {
                    records[id]?.phase = .handshaking(started: started + lateness, continuation: continuation)
                }
            }
        }
        heartbeatSequence += 1
        for record in records.values.sorted(by: { $0.id < $1.id }) {
            switch record.phase {
            case .handshaking(let started, _) where now - started > configuration.handshakeTimeout:
                let failure = ClusterError(.handshakeFailed, "no answer from \(record.endpoint) within \(configuration.handshakeTimeout.seconds) s (is a worker listening there\(record.curve ? ", and does it hold the secret key of the public key given and allow this coordinator's key?" : "? One that requires CURVE keys does not answer a coordinator without them.")))")
                log.error(failure.message)
                endHandshake(record, failure)
            case .live where now - lastSign(of: record) > configuration.heartbeatTimeout:
                let silence = (now - lastSign(of: record)).seconds
                lose(record.id, reason: "nothing received for \(Double(Int(silence * 10)) / 10) s (heartbeat timeout \(configuration.heartbeatTimeout.seconds) s)")
            case .live:
                send(Message(.heartbeat(Heartbeat(sequence: heartbeatSequence)), protocolVersion: configuration.protocolVersion), to: record.id)
            default:
                break
            }
        }
    }

    /// The later of when `record`'s worker was last heard (a message, moved on by late ticks) and
    /// when the transport last received anything from it.
    func lastSign(of record: Record) -> ContinuousClock.Instant {
        guard let received = transport.lastReceived(from: record.peer) else { return record.lastHeard }
        return max(record.lastHeard, received)
    }

    /// Encodes and queues `message` for worker `id`; a worker that cannot be sent to is lost.
    /// - Returns: the bytes queued (envelope and frames), 0 when nothing was.
    @discardableResult
    func send(_ message: Message, to id: WorkerID) -> Int {
        guard let record = records[id] else { return 0 }
        let frames = WireCodec.encode(message)
        do { try transport.send(frames, to: record.peer) } catch {
            lose(id, reason: "cannot send to it: \(error)")
            return 0
        }
        return frames.reduce(0) { $0 + $1.bytes.count }
    }

    /// Tells the worker why (best effort), then loses it.
    func drop(_ id: WorkerID, report: ErrorReport, reason: String) {
        send(Message(.error(report), protocolVersion: configuration.protocolVersion), to: id)
        lose(id, reason: reason)
    }

    func endHandshake(_ record: Record, _ failure: ClusterError) {
        records[record.id]?.phase = .lost
        transport.disconnect(record.peer)
        if case .handshaking(_, let continuation) = record.phase { continuation.resume(throwing: failure) }
    }

    /// Marks a worker lost: disconnects it, fails its pending requests, reports the loss.
    func lose(_ id: WorkerID, reason: String) {
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
    func fail(_ id: WorkerID, _ error: ClusterError) {
        guard let record = records[id] else { return }
        records[id]?.pending.removeAll()
        for (_, request) in record.pending { request.continuation.resume(throwing: error) }
        if case .handshaking = record.phase { endHandshake(record, error) }
    }
}
