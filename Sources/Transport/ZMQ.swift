import CZMQ
import Tensors

#if canImport(Glibc)
import Glibc
#endif

// Every libzmq call of the project is in this file. The types here are confined to the thread
// that runs a `ZMQTransport`'s loop (libzmq sockets are not thread-safe); none is Sendable.

/// The message of the last libzmq error on this thread (`zmq_strerror(zmq_errno())`).
func zmqLastError() -> (code: Int32, text: String) {
    let code = czmq_errno()
    return (code, String(cString: zmq_strerror(code)))
}

/// libzmq's version, e.g. "4.3.4" (`zmq_version`).
public func zmqVersion() -> String {
    var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
    zmq_version(&major, &minor, &patch)
    return "\(major).\(minor).\(patch)"
}

/// A libzmq context (`zmq_ctx_new`). Terminate it (`terminate()`) only after closing every socket:
/// `zmq_ctx_term` with open sockets blocks forever.
final class ZMQContext {
    let handle: UnsafeMutableRawPointer

    /// - Parameter ioThreads: libzmq I/O threads (`ZMQ_IO_THREADS`); one moves about 1 GB/s.
    init(ioThreads: Int) throws(TransportError) {
        guard let handle = zmq_ctx_new() else { throw TransportError("zmq_ctx_new failed: \(zmqLastError().text)") }
        self.handle = handle
        zmq_ctx_set(handle, ZMQ_IO_THREADS, Int32(ioThreads))
    }

    /// `zmq_ctx_term`: waits for every socket's linger period, then releases the context.
    func terminate() {
        while zmq_ctx_term(handle) != 0 && czmq_errno() == EINTR {}
    }
}

/// The kinds of sockets the transport uses.
enum ZMQSocketKind {
    /// Bound by a listener: many peers, each message prefixed by the peer's routing id.
    case router
    /// Connected to one listener.
    case dealer
    /// The transport's ZAP handler (`inproc://zeromq.zap.01`): one request, one reply.
    case reply
    /// The reading end of a listener's socket monitor.
    case pair

    var rawValue: Int32 {
        switch self {
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .reply: ZMQ_REP
        case .pair: ZMQ_PAIR
        }
    }
}

/// A libzmq socket (`zmq_socket`), closed by `close()` (or at deinit if still open).
final class ZMQSocket {
    private(set) var handle: UnsafeMutableRawPointer?
    let kind: ZMQSocketKind

    /// A socket with the transport's options: no high-water marks (the protocol bounds what is
    /// in flight, and a ROUTER at its mark drops messages silently), `lingerMilliseconds` to
    /// deliver final messages at close, and inbound frames limited to `maxFrameBytes` (a peer that
    /// sends a larger one is disconnected by libzmq before the frame is allocated).
    init(context: ZMQContext, kind: ZMQSocketKind, lingerMilliseconds: Int, maxFrameBytes: Int) throws(TransportError) {
        guard let handle = zmq_socket(context.handle, kind.rawValue) else {
            throw TransportError("zmq_socket failed: \(zmqLastError().text)")
        }
        self.handle = handle
        self.kind = kind
        setInt(ZMQ_SNDHWM, 0)
        setInt(ZMQ_RCVHWM, 0)
        setInt(ZMQ_LINGER, Int32(clamping: lingerMilliseconds))
        setInt(ZMQ_RECONNECT_IVL, 100)
        setInt(ZMQ_RECONNECT_IVL_MAX, 2000)
        var limit = Int64(maxFrameBytes)
        zmq_setsockopt(handle, ZMQ_MAXMSGSIZE, &limit, MemoryLayout<Int64>.size)
    }

    deinit { close() }

    private func setInt(_ option: Int32, _ value: Int32) {
        var value = value
        zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size)
    }

    private func setText(_ option: Int32, _ value: String) throws(TransportError) {
        let result = value.withCString { zmq_setsockopt(handle, option, $0, strlen($0) + 1) }
        guard result == 0 else { throw TransportError("zmq_setsockopt(\(option)) failed: \(zmqLastError().text)") }
    }

    /// Makes this (not yet bound) socket a CURVE server with `secretKey`; its ZAP domain names
    /// the transport's handler's requests.
    func makeCurveServer(secretKey: String) throws(TransportError) {
        setInt(ZMQ_CURVE_SERVER, 1)
        try setText(ZMQ_CURVE_SECRETKEY, secretKey)
        try setText(ZMQ_ZAP_DOMAIN, "calibrate")
    }

    /// Makes this (not yet connected) socket a CURVE client with `keys`, expecting a server
    /// whose public key is `serverKey`.
    func makeCurveClient(keys: CurveKeyPair, serverKey: String) throws(TransportError) {
        try setText(ZMQ_CURVE_SERVERKEY, serverKey)
        try setText(ZMQ_CURVE_PUBLICKEY, keys.publicKey)
        try setText(ZMQ_CURVE_SECRETKEY, keys.secretKey)
    }

    /// `zmq_bind`; returns the endpoint as bound (`ZMQ_LAST_ENDPOINT`: a tcp port 0 resolved).
    func bind(_ endpoint: String) throws(TransportError) -> String {
        guard zmq_bind(handle, endpoint) == 0 else {
            throw TransportError("cannot listen on \(endpoint): \(zmqLastError().text)")
        }
        var buffer = [CChar](repeating: 0, count: 1024)
        var size = buffer.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { return endpoint }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// `zmq_connect`: starts connecting in the background; messages queue until it succeeds.
    func connect(_ endpoint: String) throws(TransportError) {
        guard zmq_connect(handle, endpoint) == 0 else {
            throw TransportError("cannot connect to \(endpoint): \(zmqLastError().text)")
        }
    }

    /// Publishes this socket's connection events on `endpoint` (inproc), for a PAIR socket to read
    /// (`zmq_socket_monitor`): accepted connections, handshakes that fail, disconnections.
    func monitor(on endpoint: String) throws(TransportError) {
        let events = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
        guard zmq_socket_monitor(handle, endpoint, events) == 0 else {
            throw TransportError("zmq_socket_monitor failed: \(zmqLastError().text)")
        }
    }

    /// `zmq_close`. With `discardPending`, undelivered messages are dropped (linger 0) — for a
    /// peer being dropped; otherwise they get the socket's linger period.
    func close(discardPending: Bool = false) {
        guard let handle else { return }
        if discardPending { setInt(ZMQ_LINGER, 0) }
        zmq_close(handle)
        self.handle = nil
    }

    // MARK: Sending

    /// Frames below this size are copied into the message; larger ones are sent without a copy.
    static let zeroCopyThreshold = 1024

    /// Sends one multipart message without blocking (`zmq_msg_send` with `ZMQ_DONTWAIT`),
    /// prefixed by `routingID` on a ROUTER socket.
    ///
    /// Large frames are not copied: `zmq_msg_init_data` points libzmq at the storage and retains
    /// it, and libzmq's free callback releases it once the bytes are on the wire.
    /// - Returns: false when libzmq would block (nothing was sent; try again when writable).
    /// - Throws: `TransportError` for any other failure.
    func send(_ frames: [TensorStorage], routingID: [UInt8]?) throws(TransportError) -> Bool {
        precondition(!frames.isEmpty, "a message has at least one frame")
        if let routingID {
            let sent = routingID.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, ZMQ_SNDMORE | ZMQ_DONTWAIT) }
            if sent < 0 {
                let error = zmqLastError()
                if error.code == EAGAIN { return false }
                throw TransportError("zmq_send (routing id) failed: \(error.text)")
            }
        }
        for (index, frame) in frames.enumerated() {
            let flags = (index + 1 < frames.count ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT
            let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
            defer { message.deallocate() }
            Self.initialize(message, with: frame)
            if zmq_msg_send(message, handle, flags) < 0 {
                let error = zmqLastError()
                zmq_msg_close(message)
                // EAGAIN can only happen on the first part: libzmq admits a multipart message whole.
                if error.code == EAGAIN && index == 0 && routingID == nil { return false }
                throw TransportError("zmq_msg_send failed on frame \(index): \(error.text)")
            }
        }
        return true
    }

    private static func initialize(_ message: UnsafeMutablePointer<zmq_msg_t>, with frame: TensorStorage) {
        let bytes = frame.bytes
        if bytes.count < zeroCopyThreshold || bytes.baseAddress == nil {
            zmq_msg_init_size(message, bytes.count)
            if bytes.count > 0 {
                withExtendedLifetime(frame) { zmq_msg_data(message)!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            }
        } else {
            let retained = Unmanaged.passRetained(frame).toOpaque()
            zmq_msg_init_data(message, UnsafeMutableRawPointer(mutating: bytes.baseAddress!), bytes.count, releaseStorage, retained)
        }
    }

    // MARK: Receiving

    /// One multipart message if one is waiting (`zmq_msg_recv` with `ZMQ_DONTWAIT`), nil otherwise.
    ///
    /// Frames stay in the `zmq_msg_t` libzmq filled: each becomes a `TensorStorage` viewing it and
    /// owning it (closed when the storage is released). A frame whose data is not 8-byte aligned
    /// (libzmq packs small frames into its receive buffer at any offset) is copied instead, so that
    /// every received frame can be read as any element type.
    func receive() throws(TransportError) -> ReceivedMessage? {
        var frames: [TensorStorage] = []
        var peerAddress: String?
        while true {
            let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
            zmq_msg_init(message)
            if zmq_msg_recv(message, handle, ZMQ_DONTWAIT) < 0 {
                let error = zmqLastError()
                zmq_msg_close(message)
                message.deallocate()
                if error.code == EAGAIN && frames.isEmpty { return nil }
                if error.code == EINTR { continue }
                throw TransportError("zmq_msg_recv failed: \(error.text)")
            }
            if peerAddress == nil, let address = zmq_msg_gets(message, "Peer-Address") {
                peerAddress = String(cString: address)
            }
            let more = zmq_msg_more(message) != 0
            frames.append(Self.storage(owning: message))
            if !more { break }
        }
        var routingID: [UInt8]?
        if kind == .router {
            routingID = withExtendedLifetime(frames[0]) { Array(frames[0].bytes) }
            frames.removeFirst()
        }
        return ReceivedMessage(frames: frames, routingID: routingID, peerAddress: peerAddress)
    }

    private static func storage(owning message: UnsafeMutablePointer<zmq_msg_t>) -> TensorStorage {
        let size = zmq_msg_size(message)
        let data = zmq_msg_data(message)
        let bytes = UnsafeRawBufferPointer(start: data, count: size)
        if size > 0, let data, Int(bitPattern: data) % 8 == 0 {
            return TensorStorage(viewing: bytes, owner: ZMQMessageOwner(message))
        }
        let copy = TensorStorage(copying: bytes)
        zmq_msg_close(message)
        message.deallocate()
        return copy
    }
}

/// A message read from a socket.
struct ReceivedMessage {
    var frames: [TensorStorage]
    /// The sending peer's routing id (ROUTER sockets).
    var routingID: [UInt8]?
    /// libzmq's "Peer-Address" property (tcp: the peer's IP address).
    var peerAddress: String?
}

/// Owns a received `zmq_msg_t` on the heap (never copied as a Swift value); closes it when the
/// last `TensorStorage` viewing it goes away, on whichever thread that happens (`zmq_msg_close`
/// only drops a reference on the message's content, which libzmq counts atomically).
final class ZMQMessageOwner {
    private let message: UnsafeMutablePointer<zmq_msg_t>

    init(_ message: UnsafeMutablePointer<zmq_msg_t>) { self.message = message }

    deinit {
        zmq_msg_close(message)
        message.deallocate()
    }
}

/// libzmq's free callback for zero-copy frames: releases the `TensorStorage` retained in `initialize`.
private let releaseStorage: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { _, hint in
    Unmanaged<TensorStorage>.fromOpaque(hint!).release()
}

/// One entry of a `zmq_poll` set: a socket or a file descriptor, and the events of interest.
struct ZMQPollEntry {
    var socket: ZMQSocket?
    var fileDescriptor: Int32 = -1
    var wantsOutput = false
}

/// `zmq_poll` over `entries`; returns, for each, (readable, writable).
/// - Parameter timeoutMilliseconds: -1 waits until an event.
func zmqPoll(_ entries: [ZMQPollEntry], timeoutMilliseconds: Int) throws(TransportError) -> [(readable: Bool, writable: Bool)] {
    var items = entries.map { entry in
        zmq_pollitem_t(
            socket: entry.socket?.handle, fd: entry.socket == nil ? entry.fileDescriptor : 0,
            events: Int16(ZMQ_POLLIN | (entry.wantsOutput ? ZMQ_POLLOUT : 0)), revents: 0)
    }
    if zmq_poll(&items, Int32(items.count), timeoutMilliseconds) < 0 {
        let error = zmqLastError()
        if error.code == EINTR { return entries.map { _ in (false, false) } }
        throw TransportError("zmq_poll failed: \(error.text)")
    }
    return items.map { ($0.revents & Int16(ZMQ_POLLIN) != 0, $0.revents & Int16(ZMQ_POLLOUT) != 0) }
}

/// One event of a socket monitor (libzmq's version 1 format: a frame of a 16-bit event and a
/// 32-bit value, little endian, then a frame with an endpoint).
struct ZMQMonitorEvent {
    let event: Int32
    /// The connection's file descriptor (accepted, disconnected) or the protocol error.
    let value: UInt32

    init?(_ frames: [TensorStorage]) {
        guard let first = frames.first, first.bytes.count >= 6 else { return nil }
        (event, value) = withExtendedLifetime(first) {
            (Int32(first.bytes.loadUnaligned(as: UInt16.self).littleEndian), first.bytes.loadUnaligned(fromByteOffset: 2, as: UInt32.self).littleEndian)
        }
    }

    var isAccepted: Bool { event == ZMQ_EVENT_ACCEPTED }
    var isDisconnected: Bool { event == ZMQ_EVENT_DISCONNECTED }
    var isHandshakeFailure: Bool { event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL }

    /// Why a handshake failed, for the refusal's log line. A client without keys fails on
    /// either side first: the worker sees the mechanism mismatch, or the client's close.
    var failure: String {
        let reason: String
        if event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
            reason = "it does not speak CURVE (a client without keys?)"
        } else if event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL {
            reason = "it broke the protocol (ZMTP error 0x\(String(value, radix: 16)))"
        } else {
            reason = value == UInt32(EPIPE) || value == UInt32(ECONNRESET) ? "it closed the connection (a client without keys, or another mechanism)" : "error \(value)"
        }
        return "no CURVE handshake: " + reason
    }
}

/// The remote address of the connected socket `descriptor` ("127.0.0.1:40312"), or nil when it
/// is closed already or not an IP socket.
func peerAddress(ofDescriptor descriptor: Int32) -> String? {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let found = withUnsafeMutablePointer(to: &storage) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &length) == 0 }
    }
    guard found else { return nil }
    var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
    let named = withUnsafePointer(to: &storage) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV) == 0
        }
    }
    guard named else { return nil }
    return String(cString: host) + ":" + String(cString: service)
}
