import Synchronization
import Tensors

/// Listening in-process transports by endpoint name: the "network" that in-process transports
/// connect through. One per test, or one per embedded coordinator.
public final class InProcessNetwork: Sendable {
    private let listeners = Mutex<[String: Weak]>([:])

    struct Weak: @unchecked Sendable {
        // @unchecked: a weak reference to a Sendable class; reading it is thread-safe.
        weak var transport: InProcessTransport?
    }

    public init() {}

    func register(_ transport: InProcessTransport, at endpoint: String) throws(TransportError) {
        try listeners.withLock { (table) throws(TransportError) in
            if table[endpoint]?.transport != nil { throw TransportError("cannot listen on \(endpoint): in use") }
            table[endpoint] = Weak(transport: transport)
        }
    }

    func unregister(_ transport: InProcessTransport) {
        listeners.withLock { table in table = table.filter { $0.value.transport !== transport && $0.value.transport != nil } }
    }

    func listener(at endpoint: String) -> InProcessTransport? {
        listeners.withLock { $0[endpoint]?.transport }
    }
}

/// A `Transport` within one process: frames are handed over by reference (no copy, no
/// serialization beyond the envelope the layer above makes), with ZeroMQ's semantics — whole
/// messages, in order per peer, silently dropped once the receiver is closed or has forgotten the
/// sender. Used by tests and by the embedded mode (workers in the coordinator's process).
public final class InProcessTransport: Transport {
    /// One end of an in-process connection: the transport at the other end and the id it knows us by.
    struct Link: @unchecked Sendable {
        // @unchecked: a weak reference to a Sendable class.
        weak var remote: InProcessTransport?
        let remotePeer: PeerID
        let address: String
    }

    private struct State {
        var links: [PeerID: Link] = [:]
        /// When each peer's last message was delivered here.
        var receipts: [PeerID: ContinuousClock.Instant] = [:]
        var next: UInt64 = 1
        var closed = false
        var name = "in-process transport"
    }

    public let inbound: AsyncStream<Inbound>
    private let continuation: AsyncStream<Inbound>.Continuation
    private let network: InProcessNetwork
    private let state = Mutex(State())

    /// A transport that listens and connects on `network`.
    public init(network: InProcessNetwork) {
        self.network = network
        (inbound, continuation) = AsyncStream.makeStream(of: Inbound.self)
    }

    public func listen(on endpoint: String) async throws -> String {
        try network.register(self, at: endpoint)
        state.withLock { $0.name = endpoint }
        return endpoint
    }

    /// `serverKey` is ignored: nothing leaves the process.
    public func connect(to endpoint: String, serverKey: String?) async throws -> PeerID {
        guard let listener = network.listener(at: endpoint) else {
            throw TransportError("cannot connect to \(endpoint): nothing listens there")
        }
        let (peer, ownName) = state.withLock { state in
            defer { state.next += 1 }
            return (PeerID(state.next), state.name)
        }
        guard let remotePeer = listener.accept(from: self, peer: peer, address: "\(ownName) (peer \(peer.rawValue))") else {
            throw TransportError("cannot connect to \(endpoint): it is closed")
        }
        state.withLock { $0.links[peer] = Link(remote: listener, remotePeer: remotePeer, address: endpoint) }
        return peer
    }

    /// Registers the connecting side; returns the id this transport knows it by.
    private func accept(from remote: InProcessTransport, peer remotePeer: PeerID, address: String) -> PeerID? {
        state.withLock { state in
            guard !state.closed else { return nil }
            let peer = PeerID(state.next)
            state.next += 1
            state.links[peer] = Link(remote: remote, remotePeer: remotePeer, address: address)
            return peer
        }
    }

    public func send(_ frames: [TensorStorage], to peer: PeerID) throws {
        precondition(!frames.isEmpty, "a message has at least one frame")
        let link = try state.withLock { (state) throws(TransportError) -> Link in
            guard !state.closed else { throw TransportError("cannot send to \(peer): the transport is closed") }
            guard let link = state.links[peer] else { throw TransportError("cannot send to \(peer): not connected") }
            return link
        }
        link.remote?.deliver(frames, from: link.remotePeer)
    }

    private func deliver(_ frames: [TensorStorage], from peer: PeerID) {
        let now = ContinuousClock.now
        let known = state.withLock { state in
            guard !state.closed && state.links[peer] != nil else { return false }
            state.receipts[peer] = now
            return true
        }
        if known { continuation.yield(Inbound(peer: peer, frames: frames)) }
    }

    public func disconnect(_ peer: PeerID) {
        state.withLock { state in
            state.links.removeValue(forKey: peer)
            state.receipts.removeValue(forKey: peer)
        }
    }

    /// When the last message from `peer` was delivered (a message arrives here in one piece).
    public func lastReceived(from peer: PeerID) -> ContinuousClock.Instant? {
        state.withLock { $0.receipts[peer] }
    }

    /// Nothing to admit: in-process messages are never chunked.
    public func admit(_ peer: PeerID) {}

    public func address(of peer: PeerID) -> String {
        state.withLock { $0.links[peer]?.address } ?? "\(peer) (disconnected)"
    }

    public func close() async {
        state.withLock { state in
            state.closed = true
            state.links.removeAll()
            state.receipts.removeAll()
        }
        network.unregister(self)
        continuation.finish()
    }
}
