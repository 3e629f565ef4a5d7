import Foundation
import Synchronization

/// A TCP proxy on loopback between a coordinator and a worker, for tests of what a network
/// attacker can do to a connection: it forwards bytes both ways, records what the client sent,
/// and can flip one byte of the client's stream at a chosen position (garbage after a valid
/// handshake). `replay` opens a new connection to the worker and sends a recorded stream again.
final class TamperingProxy: @unchecked Sendable {
    // @unchecked: `listener` and `upstream` are set once in init; the rest is behind `state`.
    private struct State {
        var recorded: [[UInt8]] = []
        var tamperAt: Int?
        var tampered = false
        var sockets: [Int32] = []
    }

    let port: UInt16
    private let upstream: UInt16
    private let listener: Int32
    private let state = Mutex(State())

    /// - Parameters:
    ///   - upstreamPort: the worker's port on 127.0.0.1.
    ///   - tamperAt: the offset in the first connection's client stream whose byte is flipped.
    init(to upstreamPort: UInt16, tamperAt: Int? = nil) throws {
        upstream = upstreamPort
        let listening = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listening, $0, length) == 0 && listen(listening, 8) == 0 && getsockname(listening, $0, &length) == 0 }
        }
        guard listening >= 0, bound else { throw TestFailure("the proxy cannot listen: \(String(cString: strerror(errno)))") }
        listener = listening
        port = UInt16(bigEndian: address.sin_port)
        state.withLock { $0.tamperAt = tamperAt }
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// The client bytes of each connection so far.
    var recorded: [[UInt8]] { state.withLock { $0.recorded } }
    var tampered: Bool { state.withLock { $0.tampered } }

    /// Sends `bytes` to the worker on a connection of their own, reads what it answers until it
    /// closes the connection or `seconds` pass, and returns whether it closed it.
    func replay(_ bytes: [UInt8], seconds: Double = 5) -> Bool {
        guard let socket = Self.connect(port: upstream) else { return false }
        defer { Glibc.close(socket) }
        _ = bytes.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }

    func close() {
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
        for socket in state.withLock({ $0.sockets }) { shutdown(socket, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            guard let server = Self.connect(port: upstream) else { Glibc.close(client); continue }
            let index = state.withLock { state -> Int in
                state.sockets += [client, server]
                state.recorded.append([])
                return state.recorded.count - 1
            }
            Thread.detachNewThread { [self] in pump(from: client, to: server, recordAs: index) }
            Thread.detachNewThread { [self] in pump(from: server, to: client, recordAs: nil) }
        }
    }

    /// Copies bytes until either side closes; the client's are recorded (and tampered with).
    private func pump(from source: Int32, to destination: Int32, recordAs index: Int?) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            if let index {
                state.withLock { state in
                    let offset = state.recorded[index].count
                    state.recorded[index] += buffer[0..<count]
                    if index == 0, let at = state.tamperAt, !state.tampered, at >= offset, at < offset + count {
                        buffer[at - offset] ^= 0x5A
                        state.tampered = true
                    }
                }
            }
            guard buffer.withUnsafeBytes({ send(destination, $0.baseAddress, count, Int32(MSG_NOSIGNAL)) }) == count else { break }
        }
        shutdown(destination, Int32(SHUT_RDWR))
        shutdown(source, Int32(SHUT_RDWR))
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    private static func connect(port: UInt16) -> Int32? {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard socket >= 0, connected else {
            if socket >= 0 { Glibc.close(socket) }
            return nil
        }
        return socket
    }
}
