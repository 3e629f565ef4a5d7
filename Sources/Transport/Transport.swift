import Tensors

/// A peer of a transport: a connection made with `connect(to:)`, or a remote peer seen on an
/// endpoint opened with `listen(on:)`. Unique within one transport for its lifetime.
public struct PeerID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    public static func < (lhs: PeerID, rhs: PeerID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "peer \(rawValue)" }
}

/// A multipart message received from a peer: frame 0 is the envelope, then tensor frames.
public struct Inbound: Sendable {
    public let peer: PeerID
    public let frames: [TensorStorage]

    public init(peer: PeerID, frames: [TensorStorage]) {
        self.peer = peer
        self.frames = frames
    }
}

/// Moves multipart messages between peers; knows nothing of what the frames mean.
///
/// Delivery follows ZeroMQ's model: messages to a peer arrive whole and in order, or not at all;
/// a connection is made in the background and re-made after a network failure; a vanished peer
/// is noticed by the layer above (heartbeats, judged by `lastReceived(from:)` as well as by the
/// messages delivered), not by the transport. Frames are immutable `TensorStorage` values, not
/// copied on the way, except small ones (below 1 KiB, by ZeroMQ) and, over ZeroMQ, frames of a
/// message sent in chunks that are larger than a chunk (copied once when reassembled).
public protocol Transport: AnyObject, Sendable {
    /// Every inbound message, in arrival order per peer. Meant for one consumer; it finishes
    /// when the transport is closed.
    var inbound: AsyncStream<Inbound> { get }

    /// Accepts peers at `endpoint` (ZeroMQ: `tcp://0.0.0.0:5555`, `tcp://127.0.0.1:0` for any free
    /// port, `ipc:///tmp/worker.sock`; in-process: any name).
    /// - Returns: the endpoint as bound, a tcp port 0 resolved to the port chosen.
    /// - Throws: `TransportError` when the endpoint cannot be bound (in use, malformed).
    func listen(on endpoint: String) async throws -> String

    /// Connects to the peer listening at `endpoint`. The connection completes in the background;
    /// messages sent meanwhile wait for it. With `serverKey` (ZeroMQ) the connection is CURVE:
    /// encrypted, and only a listener holding that public key's secret key completes it, while
    /// the listener checks this side's key; nothing is delivered from a listener that fails.
    /// - Throws: `TransportError` for a malformed endpoint or key (ZeroMQ), a key without a key
    ///   pair of this side's, or no such listener (in-process).
    func connect(to endpoint: String, serverKey: String?) async throws -> PeerID

    /// Queues `frames` (at least one) for `peer` and returns at once. Storage is kept alive until sent.
    /// - Throws: `TransportError` when the transport is closed or `peer` is unknown or disconnected.
    func send(_ frames: [TensorStorage], to peer: PeerID) throws

    /// Forgets `peer`: closes a connection made by `connect(to:)`, discarding what it has not
    /// sent; ignores a listener's peer from now on. Unknown peers are ignored.
    func disconnect(_ peer: PeerID)

    /// Lets a listener's peer send messages larger than a chunk. Until then its chunks are
    /// dropped unread and only whole messages (at most a chunk: ZeroMQ refuses larger frames on a
    /// listener) are delivered, so a peer nobody has let in — one without a session — cannot make
    /// this side allocate more than a chunk. Peers of `connect(to:)` are admitted from the start;
    /// `disconnect` forgets the admission. In process: no effect (nothing is chunked).
    func admit(_ peer: PeerID)

    /// A description of `peer` for messages: its endpoint, or its address as seen by a listener.
    func address(of peer: PeerID) -> String

    /// When anything last arrived from `peer`: a message, or part of one still arriving (a
    /// chunk of a large message over ZeroMQ), so that a peer visibly sending is known to be alive
    /// while its message is in transit. Nil before anything arrived, and for unknown or
    /// disconnected peers.
    func lastReceived(from peer: PeerID) -> ContinuousClock.Instant?

    /// Closes every connection and endpoint (queued messages get a short linger period to
    /// leave) and finishes `inbound`.
    func close() async
}

extension Transport {
    /// A plain connection (no CURVE): `connect(to:serverKey:)` without a key.
    public func connect(to endpoint: String) async throws -> PeerID {
        try await connect(to: endpoint, serverKey: nil)
    }
}
