import Tensors
import Testing
import Transport

#if canImport(Glibc)
import Glibc
#endif

@Suite("ZeroMQ transport")
struct ZMQTransportTests {
    static func endpoints() -> [String] {
        ["tcp://127.0.0.1:0", "ipc:///tmp/calibrate-transport-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"]
    }

    @Test("multipart messages with a 64 MiB frame go both ways intact, in order and 8-byte aligned", arguments: endpoints())
    func roundTrip(_ endpoint: String) async throws {
        let server = try ZMQTransport()
        let client = try ZMQTransport()
        let bound = try await server.listen(on: endpoint)
        if endpoint.hasPrefix("tcp") { #expect(!bound.hasSuffix(":0"), "port 0 resolved: \(bound)") }
        let serverBox = Mailbox(server)
        let clientBox = Mailbox(client)
        let peer = try await client.connect(to: bound)
        #expect(client.address(of: peer) == bound)
        try await introduce(peer, of: client, to: server, serverBox)

        let big = patterned(64 << 20, seed: 3)
        let sizes = [0, 1, 5, 1023, 1024, 4097, 100_000]
        let frames = [patterned(37)] + sizes.map { patterned($0, seed: $0) } + [big]
        for _ in 0..<3 { try client.send(frames, to: peer) }
        for round in 0..<3 {
            let message = try #require(await serverBox.next(timeout: 60), "round \(round)")
            #expect(message.frames.count == frames.count)
            for (got, sent) in zip(message.frames, frames) {
                #expect(same(got, sent), "frame of \(sent.bytes.count) bytes differs")
                if let base = got.bytes.baseAddress { #expect(Int(bitPattern: base) % 8 == 0, "frame of \(got.bytes.count) bytes misaligned") }
            }
            if endpoint.hasPrefix("tcp") { #expect(server.address(of: message.peer).contains("127.0.0.1")) }
            // Reply with what was received: received frames are sendable storage like any other.
            try server.send(message.frames, to: message.peer)
        }
        for _ in 0..<3 {
            let reply = try #require(await clientBox.next(timeout: 60))
            #expect(reply.peer == peer)
            #expect(reply.frames.count == frames.count)
            #expect(same(reply.frames.last!, big))
        }
        await client.close()
        await server.close()
        #expect(await serverBox.isFinished)
    }

    @Test("a frame sent without copying is released once libzmq has sent it")
    func zeroCopyRelease() async throws {
        let server = try ZMQTransport()
        let client = try ZMQTransport()
        let bound = try await server.listen(on: "tcp://127.0.0.1:0")
        let serverBox = Mailbox(server)
        let peer = try await client.connect(to: bound)
        try await introduce(peer, of: client, to: server, serverBox)
        weak var weakFrame: TensorStorage?
        do {
            let frame = patterned(8 << 20)
            weakFrame = frame
            try client.send([frame], to: peer)
        }
        let message = try #require(await serverBox.next())
        #expect(message.frames[0].bytes.count == 8 << 20)
        // libzmq calls the free callback from its I/O thread after the write; give it a moment.
        for _ in 0..<500 where weakFrame != nil { try await Task.sleep(for: .milliseconds(2)) }
        #expect(weakFrame == nil, "the sent frame's storage was not released")
        await client.close()
        await server.close()
    }

    @Test("a bound endpoint cannot be bound twice; malformed endpoints, unknown and disconnected peers are errors")
    func failures() async throws {
        let server = try ZMQTransport()
        let other = try ZMQTransport()
        let bound = try await server.listen(on: "tcp://127.0.0.1:0")
        await #expect(throws: TransportError.self) { try await other.listen(on: bound) }
        await #expect(throws: TransportError.self) { try await other.listen(on: "nonsense://x") }
        await #expect(throws: TransportError.self) { try await other.connect(to: "tcp://") }
        #expect(throws: TransportError.self) { try other.send([patterned(1)], to: PeerID(999)) }
        let peer = try await other.connect(to: bound)
        other.disconnect(peer)
        #expect(throws: TransportError.self) { try other.send([patterned(1)], to: peer) }
        await other.close()
        await server.close()
        #expect(throws: TransportError.self) { try server.send([patterned(1)], to: peer) }
    }

    @Test("a listener that disconnects a peer ignores it; a new connection from the same process is a new peer")
    func disconnectListenerPeer() async throws {
        let server = try ZMQTransport()
        let client = try ZMQTransport()
        let bound = try await server.listen(on: "tcp://127.0.0.1:0")
        let serverBox = Mailbox(server)
        let first = try await client.connect(to: bound)
        try client.send([patterned(3)], to: first)
        let seen = try #require(await serverBox.next())
        server.disconnect(seen.peer)
        try client.send([patterned(3)], to: first)
        #expect(await serverBox.next(timeout: 0.3) == nil)
        let second = try await client.connect(to: bound)
        try client.send([patterned(4)], to: second)
        let fresh = try #require(await serverBox.next())
        #expect(fresh.peer != seen.peer)
        await client.close()
        await server.close()
    }
}
