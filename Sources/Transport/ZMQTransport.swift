import Synchronization
import Tensors

#if canImport(Glibc)
import Glibc
#endif

/// A `Transport` over ZeroMQ: ROUTER sockets for `listen(on:)`, one DEALER socket per
/// `connect(to:)`, multipart messages, large frames sent without copies.
///
/// A message of at most `chunkBytes` travels as one ZeroMQ message of its frames, received
/// without a copy. A larger one travels in chunks of at most `chunkBytes` (`Chunking`, behind a
/// transport header: `ChunkHeader`), so that the receiver sees bytes arrive during a long
/// transfer (`lastReceived(from:)`) rather than nothing until its end; the receiver reassembles
/// it (`Reassembly`: frames larger than a chunk are copied once) and delivers the same frames.
///
/// Every socket belongs to one dedicated thread (`ZMQLoop`), which blocks in `zmq_poll`; the
/// methods here only queue commands for it and wake it through a pipe, so they never block a
/// caller and never touch a socket.
public final class ZMQTransport: Transport {
    /// Settings of the sockets and the context.
    public struct Configuration: Sendable {
        /// libzmq I/O threads; one moves roughly 1 GB/s.
        public var ioThreads: Int
        /// How long closing waits for queued messages to leave (never 0: a final Shutdown would be lost).
        public var lingerMilliseconds: Int
        /// The largest frame of a message (reassembled from chunks) accepted from an admitted
        /// peer: a chunk that declares a larger frame is dropped with its message.
        public var maxFrameBytes: Int
        /// Messages whose frames add up to more than this go in chunks of at most this many
        /// bytes. A chunk is the receiver's unit of liveness: it should cross the slowest link
        /// well within the heartbeat timeout (1 MiB: 1 s at 1 MB/s). `Int.max` sends every
        /// message whole, as before chunking (a heartbeat then waits behind a large message).
        public var chunkBytes: Int
        /// Where unexpected socket failures and refused connections are reported (the
        /// transport has no logger of its own).
        public var diagnostics: @Sendable (String) -> Void
        /// CURVE: this side's keys, and the client keys its listeners admit (nil: no CURVE;
        /// every listener and connection is plain).
        public var curve: CurveSettings?

        /// The largest ZeroMQ frame a listener accepts: a chunk (at least 1 MiB, so that peers
        /// with smaller chunks than the default still reach it; at most `maxFrameBytes`) and 4 KiB
        /// for what wraps it on the wire (libzmq applies the limit to a CURVE message as
        /// encrypted, 33 bytes over its payload). Larger frames make libzmq drop the connection as
        /// their header arrives, before allocating them: a peer must chunk what it sends a
        /// listener in pieces no larger than this.
        public var listenerFrameBytes: Int { min(maxFrameBytes, max(chunkBytes, 1 << 20)) + 4096 }

        public init(
            ioThreads: Int = 1, lingerMilliseconds: Int = 2000, maxFrameBytes: Int = 8 << 30, chunkBytes: Int = 1 << 20, curve: CurveSettings? = nil,
            diagnostics: @escaping @Sendable (String) -> Void = { message in
                var line = "zmq transport: \(message)\n"
                line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
            }
        ) {
            self.ioThreads = ioThreads
            self.lingerMilliseconds = lingerMilliseconds
            self.maxFrameBytes = maxFrameBytes
            self.chunkBytes = chunkBytes
            self.diagnostics = diagnostics
            self.curve = curve
        }
    }

    public let inbound: AsyncStream<Inbound>
    let shared: ZMQShared
    let configuration: Configuration

    /// Creates the context and starts the socket thread.
    /// - Throws: `TransportError` when libzmq cannot create a context or the wake-up pipe fails,
    ///   or for a chunk size below 1 byte.
    public init(configuration: Configuration = Configuration()) throws {
        guard configuration.chunkBytes > 0 else {
            throw TransportError("chunk size \(configuration.chunkBytes) bytes: expected at least 1 (Int.max sends every message whole)")
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Inbound.self)
        inbound = stream
        self.configuration = configuration
        shared = ZMQShared(wake: try WakePipe(), continuation: continuation)
        let loop = try ZMQLoop(shared: shared, configuration: configuration)
        startDedicatedThread { loop.run() }
    }

    deinit {
        _ = shared.enqueue(.close({}))
    }

    public func listen(on endpoint: String) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            let queued = shared.enqueue(.listen(endpoint, { continuation.resume(with: $0) }))
            if !queued { continuation.resume(throwing: TransportError("cannot listen on \(endpoint): the transport is closed")) }
        }
    }

    public func connect(to endpoint: String, serverKey: String?) async throws -> PeerID {
        if let serverKey {
            try CurveKeyPair.check(serverKey, what: "the public key given for \(endpoint)")
            guard configuration.curve != nil else {
                throw TransportError("cannot connect to \(endpoint) with CURVE: this side has no key pair (give it a key)")
            }
        }
        let peer = shared.peers.withLock { $0.add(address: endpoint) }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let queued = shared.enqueue(.connect(endpoint, serverKey, peer, { continuation.resume(with: $0) }))
            if !queued { continuation.resume(throwing: TransportError("cannot connect to \(endpoint): the transport is closed")) }
        }
        return peer
    }

    public func send(_ frames: [TensorStorage], to peer: PeerID) throws {
        guard shared.peers.withLock({ $0.addresses[peer] != nil }) else {
            throw TransportError("cannot send to \(peer): not connected (disconnected, or never seen)")
        }
        guard shared.enqueue(.send(peer, frames)) else { throw TransportError("cannot send to \(peer): the transport is closed") }
    }

    public func disconnect(_ peer: PeerID) {
        _ = shared.peers.withLock { $0.addresses.removeValue(forKey: peer) }
        _ = shared.receipts.withLock { $0.removeValue(forKey: peer) }
        _ = shared.enqueue(.disconnect(peer))
    }

    public func admit(_ peer: PeerID) {
        _ = shared.enqueue(.admit(peer))
    }

    public func address(of peer: PeerID) -> String {
        shared.peers.withLock { $0.addresses[peer] } ?? "\(peer) (disconnected)"
    }

    /// When the socket thread last took a ZeroMQ message from `peer`: a whole message or one
    /// chunk of a larger one.
    public func lastReceived(from peer: PeerID) -> ContinuousClock.Instant? {
        shared.receipts.withLock { $0[peer] }
    }

    public func close() async {
        await withCheckedContinuation { continuation in
            if !shared.enqueue(.close({ continuation.resume() })) { continuation.resume() }
        }
        // A second close (or the deinit's) waits until the first has finished.
        await shared.closed.wait()
    }
}

/// A request from any thread to the socket thread.
enum ZMQCommand: Sendable {
    case listen(String, @Sendable (Result<String, TransportError>) -> Void)
    /// An endpoint, the server's public key for CURVE (nil: plain), the peer it will be.
    case connect(String, String?, PeerID, @Sendable (Result<Void, TransportError>) -> Void)
    case send(PeerID, [TensorStorage])
    case disconnect(PeerID)
    case admit(PeerID)
    case close(@Sendable () -> Void)
}

/// Peers known to a transport, with their addresses; shared by the callers and the socket thread.
struct PeerTable {
    var addresses: [PeerID: String] = [:]
    private var next: UInt64 = 1

    mutating func add(address: String) -> PeerID {
        let peer = PeerID(next)
        next += 1
        addresses[peer] = address
        return peer
    }
}

/// State shared between a `ZMQTransport` and its socket thread, each part behind a lock.
final class ZMQShared: Sendable {
    let wake: WakePipe
    let continuation: AsyncStream<Inbound>.Continuation
    let peers = Mutex(PeerTable())
    /// When each peer's last ZeroMQ message (whole or a chunk) arrived; written by the socket thread.
    let receipts = Mutex<[PeerID: ContinuousClock.Instant]>([:])
    private let queue = Mutex<(commands: [ZMQCommand], closing: Bool)>(([], false))
    let closed = OneShotSignal()

    init(wake: WakePipe, continuation: AsyncStream<Inbound>.Continuation) {
        self.wake = wake
        self.continuation = continuation
    }

    /// Queues `command` and wakes the socket thread; false once the transport is closing.
    func enqueue(_ command: ZMQCommand) -> Bool {
        let queued = queue.withLock { state -> Bool in
            guard !state.closing else { return false }
            if case .close = command { state.closing = true }
            state.commands.append(command)
            return true
        }
        if queued { wake.wake() }
        return queued
    }

    /// Takes every queued command, in order.
    func takeCommands() -> [ZMQCommand] {
        queue.withLock { state in
            defer { state.commands.removeAll() }
            return state.commands
        }
    }
}

/// A flag that is raised once and can be awaited.
final class OneShotSignal: Sendable {
    private let state = Mutex<(raised: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Raises the flag and resumes every waiter.
    func raise() {
        let waiters = state.withLock { state in
            state.raised = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the flag is raised.
    func wait() async {
        await withCheckedContinuation { continuation in
            let raised = state.withLock { state in
                if !state.raised { state.waiters.append(continuation) }
                return state.raised
            }
            if raised { continuation.resume() }
        }
    }
}
