import Tensors
import Transport
import Wire

/// The worker's server loop: serves one coordinator session at a time over a listening transport.
///
/// It answers Hello (version check, then Welcome with the capabilities), Heartbeat, Echo and
/// Shutdown itself, sends heartbeats at the interval the coordinator asked for, ends the session
/// when the coordinator falls silent for its timeout (nothing received, not even a chunk of a
/// large request: `Transport.lastReceived(from:)`), and hands job requests to the
/// `WorkerHandler` in order. Every inbound message is validated first; a message that fails
/// validation, arrives outside a session, names an unknown job or is one only a worker sends is
/// answered with an `Error` (code and reason), logged, and its sender dropped — the server keeps
/// listening for the next coordinator.
public actor WorkerServer {
    private struct Session {
        let token: UInt64
        let peer: PeerID
        let address: String
        let coordinator: String
        let interval: Duration
        let timeout: Duration
        var lastHeard: ContinuousClock.Instant
        var lastBeat: ContinuousClock.Instant
        var jobID: String?
        let requests: AsyncStream<Message>.Continuation
        var tasks: [Task<Void, Never>]
    }

    private let transport: any Transport
    private let handler: any WorkerHandler
    private let configuration: ServerConfiguration
    private let log: Log
    private var session: Session?
    private var nextToken: UInt64 = 1
    private var heartbeatSequence: UInt64 = 0
    private var stopRequested = false
    /// Calls to `handler.sessionEnded`, awaited before `run()` returns.
    private var endings: [Task<Void, Never>] = []

    /// A server over `transport`, which must already listen (`listen(on:)`); the server closes it when it stops.
    public init(transport: any Transport, handler: any WorkerHandler, configuration: ServerConfiguration, log: Log = .standardError(label: "worker")) {
        self.transport = transport
        self.handler = handler
        self.configuration = configuration
        self.log = log
    }

    /// Serves until a Shutdown asks the process to exit, `stop()` is called, or the calling task
    /// is cancelled; then ends the session and closes the transport.
    public func run() async {
        let inbound = transport.inbound
        await withTaskCancellationHandler {
            for await message in inbound {
                receive(message)
                if stopRequested { break }
            }
        } onCancel: {
            Task { await self.stop() }
        }
        endSession(reason: "the worker is stopping")
        for ending in endings { await ending.value }
        await transport.close()
    }

    /// Makes `run()` return: ends the session and closes the transport.
    public func stop() async {
        stopRequested = true
        await transport.close()
    }

    // MARK: Inbound

    private func receive(_ inbound: Inbound) {
        let address = transport.address(of: inbound.peer)
        let isSessionPeer = session?.peer == inbound.peer
        if isSessionPeer { session?.lastHeard = .now }
        let message: Message
        do {
            message = try WireCodec.decode(inbound.frames, limits: configuration.limits, protocolVersion: configuration.protocolVersion)
        } catch {
            // A request of the session whose envelope decoded but whose body or frames do not fit
            // (a missing tensor, a shape, lengths that do not add up: `.invalidArgument`) fails
            // alone, under its task id; anything worse drops the sender.
            if isSessionPeer, error.taskID != 0, !error.code.endsSession {
                log.warning("refusing task \(error.taskID) from \(address): \(error)")
                send(Message(.error(error.errorReport), jobID: error.jobID, taskID: error.taskID, attempt: error.attempt), to: inbound.peer)
                return
            }
            refuse(inbound.peer, address: address, report: error.errorReport, jobID: error.jobID, taskID: error.taskID, attempt: error.attempt,
                   reason: "an invalid message: \(error)")
            return
        }
        if case .hello(let hello) = message.body {
            accept(hello, message: message, peer: inbound.peer, address: address)
            return
        }
        guard isSessionPeer, let current = session else {
            if case .heartbeat = message.body, session == nil {
                // A coordinator whose session ended here still beats: tell it once per beat.
                log.debug("heartbeat from \(address) outside a session")
            }
            refuse(inbound.peer, address: address, report: ErrorReport(code: .unexpected, message: "no session: send Hello first"),
                   jobID: message.jobID, taskID: message.taskID, attempt: message.attempt, reason: "\(message.summary) outside a session")
            return
        }
        serve(message, session: current)
    }

    private func serve(_ message: Message, session current: Session) {
        let type = message.type
        guard type.isSentByCoordinator else {
            refuse(current.peer, address: current.address, report: ErrorReport(code: .unexpected, message: "a coordinator does not send \(type)"),
                   jobID: message.jobID, taskID: message.taskID, attempt: message.attempt, reason: "\(type), which only a worker sends")
            return
        }
        switch message.body {
        case .heartbeat:
            return
        case .echo:
            send(Message(message.body, tensors: message.tensors, jobID: message.jobID, taskID: message.taskID, attempt: message.attempt), to: current.peer)
        case .shutdown(let shutdown):
            log.info("shutdown requested by \(current.coordinator): \(shutdown.reason.isEmpty ? "no reason given" : shutdown.reason)")
            if shutdown.exitProcess { stopRequested = true }
            endSession(reason: "shutdown requested: \(shutdown.reason)")
        case .error(let report):
            log.warning("\(current.coordinator) reports: \(report)")
            if report.code.endsSession { endSession(reason: "the coordinator reported \(report)") }
        default:
            serveJobRequest(message, session: current)
        }
    }

    private func serveJobRequest(_ message: Message, session current: Session) {
        if message.type == .jobSpec {
            guard !message.jobID.isEmpty else {
                refuse(current.peer, address: current.address, report: ErrorReport(code: .malformed, message: "JobSpec without a job id"),
                       jobID: message.jobID, taskID: message.taskID, attempt: message.attempt, reason: "a JobSpec without a job id")
                return
            }
            session?.jobID = message.jobID
            log.info("job \(message.jobID) from \(current.coordinator)")
        } else if current.jobID == nil {
            refuse(current.peer, address: current.address, report: ErrorReport(code: .unexpected, message: "\(message.type) before any JobSpec"),
                   jobID: message.jobID, taskID: message.taskID, attempt: message.attempt, reason: "\(message.type) before any JobSpec")
            return
        } else if message.jobID != current.jobID {
            refuse(current.peer, address: current.address,
                   report: ErrorReport(code: .unknownJob, message: "job \"\(message.jobID)\" is unknown; this session runs job \"\(current.jobID ?? "")\""),
                   jobID: message.jobID, taskID: message.taskID, attempt: message.attempt, reason: "\(message.summary) for an unknown job")
            return
        }
        current.requests.yield(message)
    }

    // MARK: Sessions

    private func accept(_ hello: Hello, message: Message, peer: PeerID, address: String) {
        let ours = configuration.protocolVersion
        guard message.protocolVersion == ours else {
            refuse(peer, address: address,
                   report: ErrorReport(code: .versionMismatch, message: "the coordinator speaks protocol version \(message.protocolVersion); this worker speaks version \(ours)"),
                   jobID: message.jobID, taskID: message.taskID, attempt: message.attempt, reason: "a Hello of protocol version \(message.protocolVersion) (this worker speaks \(ours))")
            return
        }
        if let current = session, current.peer == peer {
            refuse(peer, address: address, report: ErrorReport(code: .unexpected, message: "Hello within a session"),
                   jobID: message.jobID, taskID: message.taskID, attempt: message.attempt, reason: "a second Hello")
            return
        }
        if let current = session {
            log.warning("refused \(hello.coordinator) at \(address): busy with \(current.coordinator)")
            send(Message(.error(ErrorReport(code: .busy, message: "serving \(current.coordinator) at \(current.address); its session ends at Shutdown or after \(current.timeout.seconds) s of silence")),
                         taskID: message.taskID, attempt: message.attempt), to: peer)
            return
        }
        let bounds = configuration.heartbeatBounds
        let interval = min(max(hello.heartbeatIntervalMilliseconds, bounds.lowerBound), bounds.upperBound)
        let timeout = min(max(hello.heartbeatTimeoutMilliseconds, interval * 2), bounds.upperBound)
        let (requests, continuation) = AsyncStream.makeStream(of: Message.self)
        let token = nextToken
        nextToken += 1
        session = Session(
            token: token, peer: peer, address: address, coordinator: hello.coordinator, interval: .milliseconds(interval),
            timeout: .milliseconds(timeout), lastHeard: .now, lastBeat: .now, jobID: nil, requests: continuation, tasks: [])
        session?.tasks = [handlerLoop(requests, token: token), heartbeatLoop(token: token, interval: .milliseconds(interval))]
        // Only now may this peer send messages larger than a chunk (a JobSpec, streamed weights).
        transport.admit(peer)
        log.info("session with \(hello.coordinator) at \(address): heartbeat every \(interval) ms, timeout \(timeout) ms")
        if configuration.unauthenticated {
            log.warning("session with \(hello.coordinator) at \(address) is not authenticated (--insecure): anyone who reaches this port can run jobs here")
        }
        send(Message(.welcome(Welcome(capabilities: configuration.capabilities, worker: configuration.description)), taskID: message.taskID, attempt: message.attempt), to: peer)
    }

    private func handlerLoop(_ requests: AsyncStream<Message>, token: UInt64) -> Task<Void, Never> {
        let handler = handler
        return Task {
            for await request in requests {
                let reply = await Self.run(handler, on: request)
                self.deliver(reply, token: token)
            }
        }
    }

    /// The handler's reply to `request`, or an Error message for what it threw or got wrong.
    private static func run(_ handler: any WorkerHandler, on request: Message) async -> Message {
        let body: Body
        var tensors: [NamedTensor] = []
        do {
            let reply = try await handler.handle(request)
            if reply.body.type == request.type.replyType {
                (body, tensors) = (reply.body, reply.tensors)
            } else {
                body = .error(ErrorReport(code: .internal, message: "the handler answered \(request.type) with \(reply.body.type)"))
            }
        } catch let error as any WireErrorConvertible {
            body = .error(error.errorReport)
        } catch {
            body = .error(ErrorReport(code: .internal, message: String(describing: error)))
        }
        return Message(body, tensors: tensors, jobID: request.jobID, taskID: request.taskID, attempt: request.attempt)
    }

    private func deliver(_ reply: Message, token: UInt64) {
        guard let current = session, current.token == token else {
            log.debug("reply \(reply.summary) dropped: its session has ended")
            return
        }
        if case .error(let report) = reply.body { log.warning("\(reply.summary): \(report)") }
        send(reply, to: current.peer)
    }

    private func heartbeatLoop(token: UInt64, interval: Duration) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard self.beat(token: token) else { return }
            }
        }
    }

    /// Sends a heartbeat, or ends a silent session; false once the session is over. As in the
    /// pool, the coordinator is heard from at the later of its last message and the transport's
    /// last receipt from it (a large request in transit), and time this beat ran late (the
    /// process was busy) does not count as silence.
    private func beat(token: UInt64) -> Bool {
        guard var current = session, current.token == token else { return false }
        let now = ContinuousClock.now
        let lateness = now - current.lastBeat - current.interval
        if lateness > current.interval { current.lastHeard += lateness }
        current.lastBeat = now
        session = current
        let heard = transport.lastReceived(from: current.peer).map { max($0, current.lastHeard) } ?? current.lastHeard
        let silence = now - heard
        if silence > current.timeout {
            log.error("\(current.coordinator) at \(current.address) silent for \(Double(Int(silence.seconds * 10)) / 10) s (timeout \(current.timeout.seconds) s); ending the session")
            endSession(reason: "the coordinator fell silent")
            return false
        }
        heartbeatSequence += 1
        send(Message(.heartbeat(Heartbeat(sequence: heartbeatSequence))), to: current.peer)
        return true
    }

    /// Ends the session at once (later messages from its peer are refused), then tells the
    /// handler once its last request has returned.
    private func endSession(reason: String) {
        guard let current = session else { return }
        session = nil
        transport.disconnect(current.peer)
        stopTasks(of: current)
        log.info("session with \(current.coordinator) ended: \(reason)")
        let handler = handler
        let handlerLoop = current.tasks.first
        endings.append(Task {
            await handlerLoop?.value
            await handler.sessionEnded(reason: reason)
        })
    }

    private func stopTasks(of session: Session) {
        session.requests.finish()
        for task in session.tasks { task.cancel() }
    }

    /// Answers `peer` with an Error, logs why, and drops it (ending its session, if it has one).
    private func refuse(_ peer: PeerID, address: String, report: ErrorReport, jobID: String = "", taskID: UInt64, attempt: UInt32, reason: String) {
        log.error("dropping \(address): \(reason): \(report)")
        send(Message(.error(report), jobID: jobID, taskID: taskID, attempt: attempt), to: peer)
        if session?.peer == peer {
            endSession(reason: "dropped: \(report)")
        } else {
            transport.disconnect(peer)
        }
    }

    private func send(_ message: Message, to peer: PeerID) {
        var message = message
        message.protocolVersion = configuration.protocolVersion
        do { try transport.send(WireCodec.encode(message), to: peer) } catch {
            log.debug("cannot send \(message.summary) to \(transport.address(of: peer)): \(error)")
        }
    }
}
