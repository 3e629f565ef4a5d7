import Synchronization
import Tensors

/// The socket thread of a `ZMQTransport`: owns the context and every socket, executes queued
/// commands, cuts outgoing messages into chunks (`Chunking`), reassembles inbound ones
/// (`Reassembly`), stamps each peer's last receipt and turns inbound messages into `Inbound`
/// values. Confined to its thread.
final class ZMQLoop: @unchecked Sendable {
    // @unchecked: handed once to the thread that runs `run()` and used by no other thread after.

    /// A bound ROUTER socket and the peers seen on it.
    final class Listener {
        let socket: ZMQSocket
        let endpoint: String
        var peers: [[UInt8]: PeerID] = [:]
        /// Routing ids of disconnected peers: their messages are dropped.
        var ignored: Set<[UInt8]> = []

        init(socket: ZMQSocket, endpoint: String) {
            self.socket = socket
            self.endpoint = endpoint
        }
    }

    /// The reading end of a CURVE listener's socket monitor: connections that fail the handshake
    /// before ZAP is asked (a client without keys) are logged from it, with their address.
    final class Monitor {
        let socket: ZMQSocket
        let endpoint: String
        /// Accepted connections not yet disconnected: descriptor → remote address (nil when the
        /// connection was gone before it could be read).
        var accepted: [UInt32: String?] = [:]
        /// Why the last handshake failed, waiting for its connection's disconnection.
        var failure: String?
        /// When each (host, reason) was last logged.
        var logged: [String: ContinuousClock.Instant] = [:]

        init(socket: ZMQSocket, endpoint: String) {
            self.socket = socket
            self.endpoint = endpoint
        }
    }

    /// A connected DEALER socket (one peer) and what it could not send yet.
    final class Connection {
        let socket: ZMQSocket
        var pending: [[TensorStorage]] = []

        init(socket: ZMQSocket) { self.socket = socket }
    }

    private let shared: ZMQShared
    private let configuration: ZMQTransport.Configuration
    private let context: ZMQContext
    private var listeners: [Listener] = []
    private var connections: [PeerID: Connection] = [:]
    /// Listener peers: their socket and routing id.
    private var routes: [PeerID: (listener: Listener, routingID: [UInt8])] = [:]
    /// Per peer: the number of the next message sent to it (a chunk header's sequence).
    private var sequences: [PeerID: UInt64] = [:]
    /// Per peer: the chunked message being reassembled.
    private var reassemblies: [PeerID: Reassembly] = [:]
    /// Listener peers the layer above let in (`admit`): only they may send chunked messages.
    private var admitted: Set<PeerID> = []

    /// The ZAP handler's socket, when listeners admit only some CURVE clients.
    private var zap: ZMQSocket?
    /// One per CURVE listener.
    private var monitors: [Monitor] = []

    init(shared: ZMQShared, configuration: ZMQTransport.Configuration) throws(TransportError) {
        self.shared = shared
        self.configuration = configuration
        context = try ZMQContext(ioThreads: configuration.ioThreads)
        if configuration.curve?.allowedClients != nil {
            // Bound before any listener, so that no CURVE handshake completes unchecked (libzmq
            // admits every client key when no handler is bound).
            let socket = try ZMQSocket(context: context, kind: .reply, lingerMilliseconds: 0, maxFrameBytes: 1 << 16)
            _ = try socket.bind("inproc://zeromq.zap.01")
            zap = socket
        }
    }

    /// Polls and serves until a close command; then closes every socket, terminates the context
    /// and finishes the inbound stream.
    func run() {
        var onClose: [@Sendable () -> Void] = []
        while onClose.isEmpty {
            let listenerSnapshot = listeners
            let monitorSnapshot = monitors
            let connectionSnapshot = Array(connections)
            var entries = [ZMQPollEntry(socket: nil, fileDescriptor: shared.wake.readEnd)]
            entries += listenerSnapshot.map { ZMQPollEntry(socket: $0.socket) }
            if let zap { entries.append(ZMQPollEntry(socket: zap)) }
            entries += monitorSnapshot.map { ZMQPollEntry(socket: $0.socket) }
            entries += connectionSnapshot.map { ZMQPollEntry(socket: $0.value.socket, wantsOutput: !$0.value.pending.isEmpty) }
            let events: [(readable: Bool, writable: Bool)]
            do { events = try zmqPoll(entries, timeoutMilliseconds: -1) } catch {
                configuration.diagnostics(error.message)
                continue
            }
            if events[0].readable {
                shared.wake.drain()
                for command in shared.takeCommands() {
                    if case .close(let done) = command { onClose.append(done) } else { execute(command) }
                }
            }
            for (index, listener) in listenerSnapshot.enumerated() where events[1 + index].readable {
                receiveAll(from: listener)
            }
            let zapOffset = zap == nil ? 0 : 1
            if zap != nil, events[1 + listenerSnapshot.count].readable { answerZAP() }
            for (index, monitor) in monitorSnapshot.enumerated() where events[1 + listenerSnapshot.count + zapOffset + index].readable {
                readEvents(of: monitor)
            }
            for (index, (peer, connection)) in connectionSnapshot.enumerated() {
                let event = events[1 + listenerSnapshot.count + zapOffset + monitorSnapshot.count + index]
                if event.readable { receiveAll(from: connection, peer: peer) }
                if event.writable { flush(connection, peer: peer) }
            }
        }
        shutDown()
        for done in onClose { done() }
    }

    private func execute(_ command: ZMQCommand) {
        switch command {
        case .listen(let endpoint, let done):
            do throws(TransportError) {
                let socket = try ZMQSocket(context: context, kind: .router, lingerMilliseconds: configuration.lingerMilliseconds, maxFrameBytes: configuration.listenerFrameBytes)
                if let curve = configuration.curve, curve.allowedClients != nil { try socket.makeCurveServer(secretKey: curve.keys.secretKey) }
                let bound = try socket.bind(endpoint)
                if configuration.curve?.allowedClients != nil {
                    // The monitor before any client can connect: every refusal is seen.
                    let monitorEndpoint = "inproc://calibrate-monitor-\(listeners.count)"
                    try socket.monitor(on: monitorEndpoint)
                    let reader = try ZMQSocket(context: context, kind: .pair, lingerMilliseconds: 0, maxFrameBytes: 1 << 16)
                    try reader.connect(monitorEndpoint)
                    monitors.append(Monitor(socket: reader, endpoint: bound))
                }
                listeners.append(Listener(socket: socket, endpoint: bound))
                done(.success(bound))
            } catch { done(.failure(error)) }
        case .connect(let endpoint, let serverKey, let peer, let done):
            do throws(TransportError) {
                let socket = try ZMQSocket(context: context, kind: .dealer, lingerMilliseconds: configuration.lingerMilliseconds, maxFrameBytes: configuration.maxFrameBytes)
                if let serverKey {
                    guard let keys = configuration.curve?.keys else { throw TransportError("cannot connect to \(endpoint) with CURVE: no key pair") }
                    try socket.makeCurveClient(keys: keys, serverKey: serverKey)
                }
                try socket.connect(endpoint)
                connections[peer] = Connection(socket: socket)
                done(.success(()))
            } catch {
                _ = shared.peers.withLock { $0.addresses.removeValue(forKey: peer) }
                done(.failure(error))
            }
        case .send(let peer, let frames):
            send(frames, to: peer)
        case .disconnect(let peer):
            forget(peer)
            if let connection = connections.removeValue(forKey: peer) {
                connection.socket.close(discardPending: true)
            } else if let route = routes.removeValue(forKey: peer) {
                route.listener.peers.removeValue(forKey: route.routingID)
                route.listener.ignored.insert(route.routingID)
            }
        case .admit(let peer):
            if routes[peer] != nil { admitted.insert(peer) }
        case .close:
            preconditionFailure("close is handled by run()")
        }
    }

    /// Queues `frames` for `peer` as one ZeroMQ message or as its chunks, all of them before any
    /// later message to that peer (commands run one at a time on this thread), so a peer's
    /// messages stay in order and one message's chunks are never interleaved with another's.
    /// A failure stops the message: the receiver drops what arrived of it when the next begins.
    private func send(_ frames: [TensorStorage], to peer: PeerID) {
        guard connections[peer] != nil || routes[peer] != nil else { return }
        let sequence = sequences[peer, default: 1]
        sequences[peer] = sequence + 1
        let messages = Chunking.messages(for: frames, sequence: sequence, chunkBytes: configuration.chunkBytes)
        do throws(TransportError) {
            if let connection = connections[peer] {
                for message in messages {
                    if connection.pending.isEmpty, try connection.socket.send(message, routingID: nil) { continue }
                    connection.pending.append(message)
                }
            } else if let route = routes[peer] {
                for message in messages { _ = try route.listener.socket.send(message, routingID: route.routingID) }
            }
        } catch {
            configuration.diagnostics("sending to \(peer): \(error.message)")
        }
    }

    private func flush(_ connection: Connection, peer: PeerID) {
        while let frames = connection.pending.first {
            do throws(TransportError) {
                guard try connection.socket.send(frames, routingID: nil) else { return }
            } catch {
                configuration.diagnostics("sending to \(peer): \(error.message)")
            }
            connection.pending.removeFirst()
        }
    }

    private func receiveAll(from listener: Listener) {
        while let message = receive(from: listener.socket), let routingID = message.routingID {
            if listener.ignored.contains(routingID) { continue }
            let peer: PeerID
            if let known = listener.peers[routingID] {
                peer = known
            } else {
                let address = (message.peerAddress.map { "\($0) via " } ?? "a peer of ") + listener.endpoint
                peer = shared.peers.withLock { $0.add(address: address) }
                listener.peers[routingID] = peer
                routes[peer] = (listener, routingID)
            }
            accept(message.frames, from: peer)
        }
    }

    private func receiveAll(from connection: Connection, peer: PeerID) {
        while let message = receive(from: connection.socket) {
            accept(message.frames, from: peer)
        }
    }

    /// One ZeroMQ message from `peer`: its receipt stamped (a chunk is a sign of life too), then
    /// delivered, or added to the message being reassembled; what a peer got wrong is reported
    /// through the diagnostics, naming the peer, and costs it the broken message only.
    private func accept(_ frames: [TensorStorage], from peer: PeerID) {
        let now = ContinuousClock.now
        shared.receipts.withLock { $0[peer] = now }
        // A listener's peer sends chunks only once admitted; a connection's peer always may.
        let outcome = reassemblies[peer, default: Reassembly(maxFrameBytes: configuration.maxFrameBytes)]
            .receive(frames, admitted: routes[peer] == nil || admitted.contains(peer))
        if let problem = outcome.problem {
            let address = shared.peers.withLock { $0.addresses[peer] } ?? "\(peer)"
            configuration.diagnostics("from \(peer) (\(address)): \(problem)")
        }
        if let message = outcome.message {
            shared.continuation.yield(Inbound(peer: peer, frames: message))
        }
    }

    /// Drops what this thread keeps per peer: its sequence, its partial message, its last receipt.
    private func forget(_ peer: PeerID) {
        sequences.removeValue(forKey: peer)
        reassemblies.removeValue(forKey: peer)
        admitted.remove(peer)
        _ = shared.receipts.withLock { $0.removeValue(forKey: peer) }
    }

    private func receive(from socket: ZMQSocket) -> ReceivedMessage? {
        guard socket.handle != nil else { return nil }
        do {
            return try socket.receive()
        } catch {
            configuration.diagnostics(error.message)
            return nil
        }
    }

    /// Answers one ZAP request (ZeroMQ RFC 27: version, request id, domain, address, routing id,
    /// mechanism, credentials): 200 for a CURVE client whose public key is allowed, 400 for any
    /// other, which libzmq then disconnects before a message of it is delivered. A refusal is
    /// reported with the peer's address and key (a public key: no secret).
    private func answerZAP() {
        guard let zap, let request = receive(from: zap) else { return }
        let frames = request.frames.map { frame in withExtendedLifetime(frame) { Array(frame.bytes) } }
        guard frames.count >= 6 else { return }
        let text = { (index: Int) in String(decoding: frames[index], as: UTF8.self) }
        let mechanism = text(5)
        let clientKey = frames.count > 6 ? CurveKeyPair.z85(of: frames[6]) : nil
        let allowed = mechanism == "CURVE" && clientKey.map { configuration.curve?.allowedClients?.contains($0) ?? false } ?? false
        if !allowed {
            configuration.diagnostics("refused a connection from \(text(3)): \(mechanism == "CURVE" ? "its key \(clientKey ?? "?") is not allowed" : "mechanism \(mechanism), expected CURVE")")
        }
        let reply = [Array("1.0".utf8), frames[1], Array((allowed ? "200" : "400").utf8), Array((allowed ? "OK" : "key not allowed").utf8), Array((clientKey ?? "").utf8), []]
        let storage = reply.map { bytes in bytes.withUnsafeBytes { TensorStorage(copying: $0) } }
        do throws(TransportError) { _ = try zap.send(storage, routingID: nil) } catch {
            configuration.diagnostics("answering ZAP: \(error.message)")
        }
    }

    /// Reads a listener's connection events: a connection whose handshake failed (before ZAP,
    /// which logs its own refusals) is reported with its address when it is disconnected.
    private func readEvents(of monitor: Monitor) {
        while let message = receive(from: monitor.socket) {
            guard let event = ZMQMonitorEvent(message.frames) else { continue }
            if event.isAccepted {
                monitor.accepted[event.value] = .some(peerAddress(ofDescriptor: Int32(bitPattern: event.value)))
            } else if event.isHandshakeFailure {
                monitor.failure = event.failure
            } else if event.isDisconnected {
                let address = monitor.accepted.removeValue(forKey: event.value) ?? nil
                if let failure = monitor.failure {
                    monitor.failure = nil
                    // A client that retries is refused at every attempt: one line per address
                    // (host, without the port) and reason a minute.
                    let key = (address.map { String($0.prefix { $0 != ":" }) } ?? "?") + failure
                    let now = ContinuousClock.now
                    if let last = monitor.logged[key], now - last < .seconds(60) { continue }
                    monitor.logged[key] = now
                    configuration.diagnostics("refused a connection from \(address ?? "an address that closed before it could be read") to \(monitor.endpoint): \(failure)")
                }
            }
        }
    }

    private func shutDown() {
        for monitor in monitors { monitor.socket.close() }
        monitors.removeAll()
        zap?.close()
        for listener in listeners { listener.socket.close() }
        for connection in connections.values { connection.socket.close() }
        listeners.removeAll()
        connections.removeAll()
        routes.removeAll()
        reassemblies.removeAll()
        context.terminate()
        shared.continuation.finish()
        shared.closed.raise()
    }
}
