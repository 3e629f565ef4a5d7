import Foundation
import Synchronization
import Tensors
import TestSupport
import Testing
@testable import Transport

/// Messages larger than a chunk over the ZeroMQ transport: cut into chunks, reassembled whole,
/// in order and aligned; chunks a peer gets wrong cost that peer's broken message, with a
/// diagnostic naming it, and nothing else.
@Suite("Chunked frames over ZeroMQ")
struct ChunkedFrameTests {
    static func endpoints() -> [String] {
        ["tcp://127.0.0.1:0", "ipc://" + NSTemporaryDirectory() + "calibrate-chunks-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"]
    }

    /// A transport with small chunks (many per frame) whose diagnostics go to `diagnostics`.
    static func transport(chunkBytes: Int = 64 << 10, maxFrameBytes: Int = 8 << 30, _ diagnostics: Diagnostics) throws -> ZMQTransport {
        try ZMQTransport(configuration: .init(maxFrameBytes: maxFrameBytes, chunkBytes: chunkBytes, diagnostics: diagnostics.sink))
    }

    @Test("a message of frames far larger than a chunk and of small ones arrives intact, in order and 8-byte aligned, both ways",
          arguments: endpoints())
    func largeAndSmallFrames(_ endpoint: String) async throws {
        let diagnostics = Diagnostics()
        let server = try Self.transport(diagnostics)
        let client = try Self.transport(diagnostics)
        let bound = try await server.listen(on: endpoint)
        let serverInbox = Inbox(server)
        let clientInbox = Inbox(client)
        let peer = try await client.connect(to: bound)
        try await introduce(peer, of: client, to: server, serverInbox)
        // Around the chunk size (64 KiB), below ZeroMQ's copy threshold (1 KiB), empty, and 80 chunks.
        let sizes = [37, 0, 1, 5, 1023, 64 << 10, (64 << 10) + 1, (1 << 20) + 3, 7, (5 << 20) + 5, 0]
        let frames = sizes.enumerated().map { patterned($1, seed: $0) }
        let chunksPerFrame = [1, 1, 1, 1, 1, 1, 2, 17, 1, 81, 1]
        #expect(Chunking.messages(for: frames, sequence: 1, chunkBytes: 64 << 10).count == chunksPerFrame.reduce(0, +))
        try client.send(frames, to: peer)
        let received = try #require(await serverInbox.next(timeout: 60))
        expectSame(received.frames, frames)
        #expect(server.lastReceived(from: received.peer) != nil)
        // Reassembled frames are storage like any other: sent on, in chunks again.
        try server.send(received.frames, to: received.peer)
        let echoed = try #require(await clientInbox.next(timeout: 60))
        #expect(echoed.peer == peer)
        expectSame(echoed.frames, frames)
        #expect(client.lastReceived(from: peer) != nil)
        #expect(diagnostics.lines.isEmpty, "\(diagnostics.lines)")
        await client.close()
        await server.close()
    }

    @Test("small and chunked messages to one peer arrive in the order sent, both ways", arguments: endpoints())
    func order(_ endpoint: String) async throws {
        let diagnostics = Diagnostics()
        let server = try Self.transport(chunkBytes: 16 << 10, diagnostics)
        let client = try Self.transport(chunkBytes: 16 << 10, diagnostics)
        let bound = try await server.listen(on: endpoint)
        let serverInbox = Inbox(server)
        let clientInbox = Inbox(client)
        let peer = try await client.connect(to: bound)
        try await introduce(peer, of: client, to: server, serverInbox)
        // Every third message is 7 chunks and more; the others are one tag frame.
        func message(_ index: Int) -> [TensorStorage] {
            index % 3 == 0 ? [patterned(8, seed: index), patterned((100 << 10) + index, seed: index)] : [patterned(8, seed: index)]
        }
        let count = 60
        for index in 0..<count { try client.send(message(index), to: peer) }
        for index in 0..<count {
            let received = try #require(await serverInbox.next(timeout: 30), "message \(index)")
            expectSame(received.frames, message(index), "message \(index)")
            try server.send(received.frames, to: received.peer)
        }
        for index in 0..<count {
            let echoed = try #require(await clientInbox.next(timeout: 30), "echo \(index)")
            expectSame(echoed.frames, message(index), "echo \(index)")
        }
        #expect(diagnostics.lines.isEmpty, "\(diagnostics.lines)")
        await client.close()
        await server.close()
    }

    @Test("a whole message whose first frame begins like a transport header arrives unchanged")
    func headerLookalike() async throws {
        let diagnostics = Diagnostics()
        let server = try Self.transport(diagnostics)
        let client = try Self.transport(diagnostics)
        let bound = try await server.listen(on: "tcp://127.0.0.1:0")
        let inbox = Inbox(server)
        let peer = try await client.connect(to: bound)
        try await introduce(peer, of: client, to: server, inbox)
        let lookalikes: [[TensorStorage]] = [
            [bytes(ChunkHeader.magic)],
            [bytes(ChunkHeader.magic + [1, 1, 0, 0, 9, 9]), patterned(100)],
            [ChunkHeader.whole.encoded(), patterned(3)],
            [bytes(ChunkHeader.magic + [1, 0]), patterned(200 << 10)],  // chunked, its first frame a lookalike
        ]
        for message in lookalikes { try client.send(message, to: peer) }
        for (index, message) in lookalikes.enumerated() {
            let received = try #require(await inbox.next(timeout: 30))
            expectSame(received.frames, message, "lookalike \(index)")
        }
        #expect(diagnostics.lines.isEmpty, "\(diagnostics.lines)")
        await client.close()
        await server.close()
    }

    @Test("a chunk's arrival is a receipt: lastReceived moves while the message is still incomplete")
    func receiptBeforeDelivery() async throws {
        let diagnostics = Diagnostics()
        let server = try Self.transport(diagnostics)
        let inbox = Inbox(server)
        let raw = try RawPeer(connectingTo: try await server.listen(on: "tcp://127.0.0.1:0"))
        defer { raw.close() }
        try await raw.send([patterned(4)])
        let peer = try #require(await inbox.next()).peer
        server.admit(peer)
        let first = try #require(server.lastReceived(from: peer))
        try await raw.send(chunk(1, frame: 0, of: 2, size: 8, offset: 0, patterned(8)))
        for _ in 0..<1000 where server.lastReceived(from: peer) == first { try await Task.sleep(for: .milliseconds(5)) }
        #expect(try #require(server.lastReceived(from: peer)) > first)
        #expect(await inbox.next(timeout: 0.2) == nil, "half a message was delivered")
        try await raw.send(chunk(1, frame: 1, of: 2, size: 3, offset: 0, patterned(3, seed: 1)))
        expectSame(try #require(await inbox.next()).frames, [patterned(8), patterned(3, seed: 1)])
        server.disconnect(peer)
        #expect(server.lastReceived(from: peer) == nil)
        #expect(diagnostics.lines.isEmpty, "\(diagnostics.lines)")
        await server.close()
    }

    @Test("garbage, truncated and oversized chunks from a raw ZeroMQ peer drop its broken messages, each with a line naming the peer; a good peer is served throughout")
    func badChunks() async throws {
        let diagnostics = Diagnostics()
        let limit = 1 << 20
        let server = try Self.transport(maxFrameBytes: limit, diagnostics)
        let endpoint = try await server.listen(on: "tcp://127.0.0.1:0")
        let inbox = Inbox(server)
        let good = try Self.transport(chunkBytes: 32 << 10, Diagnostics())
        let goodPeer = try await good.connect(to: endpoint)
        try await introduce(goodPeer, of: good, to: server, inbox)
        let goodMessage = [patterned(10, seed: 1), patterned(limit, seed: 2), patterned(300 << 10, seed: 3)]
        let raw = try RawPeer(connectingTo: endpoint)
        defer { raw.close() }
        try await raw.send([patterned(5, seed: 9)])
        let rawPeer = try #require(await inbox.next()).peer
        server.admit(rawPeer)

        func header(_ edit: (inout [UInt8]) -> Void, from base: ChunkHeader = .whole) -> TensorStorage {
            var header = bytes(base.encoded())
            edit(&header)
            return TensorStorage(copying: header.withUnsafeBytes { $0 })
        }
        let start80 = ChunkHeader(kind: .chunk, sequence: 80, frameCount: 1, frameIndex: 0, frameSize: 8, offset: 0)
        // Each case: the raw peer's ZeroMQ messages, and what the one diagnostic line it causes says.
        let cases: [(messages: [[TensorStorage]], expected: String)] = [
            ([[bytes(ChunkHeader.magic + [1, 1, 0])]], "a transport header of 7 bytes"),
            ([[header { $0[4] = 9 }, patterned(4)]], "layout 9"),
            ([[header { $0[5] = 7 }, patterned(4)]], "kind 7"),
            ([[header { $0[7] = 1 }, patterned(4)]], "bytes 6–7 are not zero"),
            ([[header { $0[5] = 1 }, patterned(4)]], "a chunk transport header of 8 bytes; expected 40"),
            ([[header({ $0.removeLast() }, from: start80), patterned(4)]], "a chunk transport header of 39 bytes"),
            ([chunk(10, frame: 0, of: 1, size: UInt64(limit) + 1, offset: 0, patterned(4))], "larger than the limit of \(limit) bytes"),
            ([chunk(11, frame: 0, of: 1, size: UInt64.max, offset: 0, patterned(4))], "larger than the limit"),
            ([chunk(12, frame: 3, of: 2, size: 4, offset: 0, patterned(4))], "the frame index is not below the frame count"),
            ([chunk(13, frame: 0, of: 0, size: 4, offset: 0, patterned(4))], "not below the frame count"),
            ([chunk(14, frame: 0, of: 1, size: 4, offset: 2, patterned(3))], "carries 3 bytes, which do not fit"),
            ([chunk(15, frame: 0, of: 1, size: 4, offset: UInt64.max, patterned(1))], "do not fit"),
            ([chunk(16, frame: 0, of: 1, size: 4, offset: 0, TensorStorage(copying: UnsafeRawBufferPointer(start: nil, count: 0)))], "carries no bytes of its frame"),
            ([[ChunkHeader(kind: .chunk, sequence: 17, frameCount: 1, frameIndex: 0, frameSize: 4, offset: 0).encoded()]], "comes with 0 data frames"),
            ([chunk(18, frame: 0, of: 1, size: 8, offset: 0, patterned(4)) + [patterned(4)]], "comes with 2 data frames"),
            ([chunk(50, frame: 0, of: 2, size: 8, offset: 4, patterned(4)), chunk(50, frame: 1, of: 2, size: 8, offset: 0, patterned(8))],
             "a chunk of message 50 (frame 0 of 2, 8 bytes, offset 4): arrived without its message's first chunk"),
            // A gap (bytes 4–5 lost): the message is dropped; its later chunks are ignored quietly.
            ([chunk(60, frame: 0, of: 2, size: 8, offset: 0, patterned(4)), chunk(60, frame: 0, of: 2, size: 8, offset: 6, patterned(2)),
              chunk(60, frame: 1, of: 2, size: 4, offset: 0, patterned(4))],
             "does not continue message 60 at frame 0 of 2, byte 4 of 8"),
            ([chunk(61, frame: 0, of: 2, size: 4, offset: 0, patterned(4)), chunk(61, frame: 1, of: 3, size: 4, offset: 0, patterned(4))],
             "does not continue message 61"),
            ([chunk(62, frame: 0, of: 2, size: 8, offset: 0, patterned(4)), chunk(62, frame: 0, of: 2, size: 9, offset: 4, patterned(4))],
             "does not continue message 62"),
            ([chunk(70, frame: 0, of: 2, size: 4, offset: 0, patterned(4)), [patterned(6, seed: 70)]],
             "a whole message arrived while message 70 was incomplete (1 of 2 frames complete): message 70 dropped"),
            ([chunk(80, frame: 0, of: 1, size: 8, offset: 0, patterned(4)), chunk(81, frame: 0, of: 1, size: 4, offset: 0, patterned(4, seed: 81))],
             "message 81 began while message 80 was incomplete"),
            ([[ChunkHeader.whole.encoded()]], "a whole message without frames"),
        ]
        for (index, entry) in cases.enumerated() {
            for message in entry.messages { try await raw.send(message) }
            // Keep the good peer busy throughout: a chunked message now and then.
            if index % 5 == 0 { try good.send(goodMessage, to: goodPeer) }
        }
        try await raw.send([patterned(7, seed: 99)])
        // What is delivered: the whole message of case 70, message 81 complete, the last good
        // message from the raw peer, and every message from the good peer.
        var fromRaw: [[TensorStorage]] = []
        var fromGood = 0
        while fromRaw.count < 3 || fromGood < 5 {
            guard let inbound = await inbox.next(timeout: 30) else { break }
            if inbound.peer == rawPeer { fromRaw.append(inbound.frames) } else {
                expectSame(inbound.frames, goodMessage, "the good peer's message")
                fromGood += 1
            }
        }
        #expect(fromGood == 5)
        #expect(fromRaw.count == 3)
        if fromRaw.count == 3 {
            expectSame(fromRaw[0], [patterned(6, seed: 70)])
            expectSame(fromRaw[1], [patterned(4, seed: 81)])
            expectSame(fromRaw[2], [patterned(7, seed: 99)])
        }
        #expect(await inbox.next(timeout: 0.2) == nil, "more was delivered")
        let lines = diagnostics.lines
        #expect(lines.count == cases.count, "\(lines.joined(separator: "\n"))")
        for (line, entry) in zip(lines, cases) {
            #expect(line.contains(entry.expected), "expected \"\(entry.expected)\" in: \(line)")
            #expect(line.hasPrefix("from \(rawPeer) (") && line.contains("via tcp://127.0.0.1:"), "the line names the peer: \(line)")
        }
        await good.close()
        await server.close()
    }

    @Test("a peer not admitted (no session) cannot make the listener allocate: its chunks are dropped unread, a whole frame over a chunk drops its connection; an admitted peer is served throughout")
    func unadmitted() async throws {
        let diagnostics = Diagnostics()
        let server = try Self.transport(diagnostics)
        #expect(ZMQTransport.Configuration(chunkBytes: 64 << 10).listenerFrameBytes == (1 << 20) + 4096)
        let endpoint = try await server.listen(on: "tcp://127.0.0.1:0")
        let inbox = Inbox(server)
        let good = try Self.transport(Diagnostics())
        let goodPeer = try await good.connect(to: endpoint)
        try await introduce(goodPeer, of: good, to: server, inbox)
        let stranger = try RawPeer(connectingTo: endpoint)
        defer { stranger.close() }
        try await stranger.send([patterned(5, seed: 9)])
        let strangerPeer = try #require(await inbox.next()).peer
        // A chunk declaring a 3 GiB frame, then its continuation: refused at once, one line.
        try await stranger.send(chunk(1, frame: 0, of: 1, size: 3 << 30, offset: 0, patterned(64 << 10)))
        try await stranger.send(chunk(1, frame: 0, of: 1, size: 3 << 30, offset: 64 << 10, patterned(64 << 10)))
        // A 300 MiB-class whole frame (here 8 MiB: over the listener's 1 MiB): libzmq drops the connection.
        try await stranger.send([patterned(8 << 20, seed: 1)])
        try good.send([patterned(10), patterned(300 << 10, seed: 3)], to: goodPeer)
        let delivered = try #require(await inbox.next(timeout: 30))
        #expect(delivered.peer != strangerPeer)
        expectSame(delivered.frames, [patterned(10), patterned(300 << 10, seed: 3)])
        #expect(await inbox.next(timeout: 1) == nil, "the stranger's frame was delivered")
        let lines = diagnostics.lines
        #expect(lines.count == 1 && lines[0].contains("the peer has no session: only whole messages of at most a chunk are taken from it"), "\(lines)")
        await good.close()
        await server.close()
    }

    @Test("five hundred random chunk headers never crash the transport, which then delivers a good message from the same peer")
    func fuzzChunks() async throws {
        let diagnostics = Diagnostics()
        let server = try Self.transport(maxFrameBytes: 1 << 16, diagnostics)
        let endpoint = try await server.listen(on: "tcp://127.0.0.1:0")
        let inbox = Inbox(server)
        let raw = try RawPeer(connectingTo: endpoint)
        defer { raw.close() }
        try await raw.send([patterned(3)])
        server.admit(try #require(await inbox.next()).peer)
        var generator = SplitMix64(seed: 31)
        func small(_ bound: UInt64) -> UInt64 { generator.next() % bound }
        for _ in 0..<500 {
            let header = ChunkHeader(
                kind: small(4) == 0 ? .whole : .chunk, sequence: small(3), frameCount: UInt32(small(4)), frameIndex: UInt32(small(4)),
                frameSize: small(5) == 0 ? generator.next() : small(1 << 17), offset: small(3) == 0 ? generator.next() : small(1 << 16))
            var encoded = bytes(header.encoded())
            if small(3) == 0 { encoded[4 + Int(small(UInt64(encoded.count - 4)))] ^= UInt8(1 << small(8)) }
            if small(8) == 0 { encoded = Array(encoded.prefix(Int(small(UInt64(encoded.count))))) }
            let frames = (0..<small(3)).map { _ in patterned(Int(small(64 << 10)), seed: Int(small(100))) }
            try await raw.send([TensorStorage(copying: encoded.withUnsafeBytes { $0 })] + frames)
        }
        // A whole message ends whatever was incomplete: it is delivered last.
        try await raw.send([patterned(9, seed: 5)])
        var last: Inbound?
        while let inbound = await inbox.next(timeout: 10) {
            last = inbound
            if inbound.frames.count == 1 && sameBytes(inbound.frames[0], patterned(9, seed: 5)) { break }
        }
        expectSame(try #require(last).frames, [patterned(9, seed: 5)])
        #expect(!diagnostics.lines.isEmpty)
        await server.close()
    }

    @Test("a frame's buffer grows with the bytes that arrive: a header claiming 3 GiB allocates 4 MiB; a 9 MiB frame grows 4 → 8 → 9 MiB and holds every byte")
    func bufferGrowth() throws {
        let claimed = try #require(ReassemblyBuffer(size: 3 << 30))
        #expect(claimed.capacity == ReassemblyBuffer.initialCapacity)
        #expect(claimed.copy(patterned(1 << 20), at: 0) && claimed.capacity == 4 << 20)
        let size = (9 << 20) + 5
        let buffer = try #require(ReassemblyBuffer(size: size))
        let frame = patterned(size, seed: 4)
        var offset = 0
        var capacities: [Int] = []
        while offset < size {
            let count = min(1 << 20, size - offset)
            #expect(buffer.copy(TensorStorage(viewing: UnsafeRawBufferPointer(rebasing: frame.bytes[offset..<(offset + count)]), owner: frame), at: offset))
            offset += count
            if capacities.last != buffer.capacity { capacities.append(buffer.capacity) }
        }
        #expect(capacities == [4 << 20, 8 << 20, size])
        #expect(sameBytes(buffer.storage(), frame))
    }

    @Test("chunks cut and reassembled without sockets: every frame size around the chunk size, for chunk sizes 1–5",
          arguments: 1...5)
    func exhaustive(_ chunkBytes: Int) throws {
        let sizes = [0, 1, 2, 3, 4, 5, 6, 7, 11]
        for first in sizes {
            for second in sizes {
                let frames = [patterned(first, seed: 1), patterned(second, seed: 2), patterned(1, seed: 3)]
                var reassembly = Reassembly(maxFrameBytes: 64)
                var delivered: [[TensorStorage]] = []
                for message in Chunking.messages(for: frames, sequence: 7, chunkBytes: chunkBytes) {
                    // What a socket hands over: every frame a separate storage (chunks copied, as libzmq copies small ones).
                    let outcome = reassembly.receive(message.map { TensorStorage(copying: $0.bytes) })
                    #expect(outcome.problem == nil, "sizes \(first), \(second), chunk \(chunkBytes): \(outcome.problem ?? "")")
                    if let message = outcome.message { delivered.append(message) }
                }
                #expect(delivered.count == 1, "sizes \(first), \(second), chunk \(chunkBytes)")
                if let message = delivered.first { expectSame(message, frames, "sizes \(first), \(second), chunk \(chunkBytes)") }
            }
        }
    }
}

/// What a transport reports through its diagnostics, captured.
final class Diagnostics: Sendable {
    private let captured = Mutex<[String]>([])

    var sink: @Sendable (String) -> Void { { [self] line in captured.withLock { $0.append(line) } } }
    var lines: [String] { captured.withLock { $0 } }
}

/// A transport's inbound messages, to take one at a time with a timeout.
final class Inbox: Sendable {
    private let collector: Collector<Inbound>
    private let taken = Mutex(0)

    init(_ transport: any Transport) { collector = Collector(transport.inbound) }

    /// The next message not yet taken, or nil when none comes within `timeout` seconds.
    func next(timeout: Double = 10) async -> Inbound? {
        let index = taken.withLock { $0 }
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < deadline {
            let all = await collector.all
            if all.count > index {
                taken.withLock { $0 += 1 }
                return all[index]
            }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return nil
    }
}

/// A bare ZeroMQ DEALER (the transport's own socket wrapper) for sending what no `ZMQTransport`
/// sends. Used by one task at a time.
final class RawPeer {
    private let context: ZMQContext
    private let socket: ZMQSocket

    init(connectingTo endpoint: String) throws {
        context = try ZMQContext(ioThreads: 1)
        socket = try ZMQSocket(context: context, kind: .dealer, lingerMilliseconds: 1000, maxFrameBytes: 1 << 30)
        try socket.connect(endpoint)
    }

    /// Sends one ZeroMQ message, waiting for the connection if it is not made yet.
    func send(_ frames: [TensorStorage]) async throws {
        while !(try socket.send(frames, routingID: nil)) { try await Task.sleep(for: .milliseconds(5)) }
    }

    func close() {
        socket.close()
        context.terminate()
    }
}

/// Sends a small message from `client` to `server` over `peer`, and has `server` admit the peer
/// it arrives from (as a worker admits its coordinator at Hello), so that chunks follow.
func introduce(_ peer: PeerID, of client: ZMQTransport, to server: ZMQTransport, _ inbox: Inbox) async throws {
    try client.send([bytes([0x68, 0x69])], to: peer)
    let hello = try #require(await inbox.next(timeout: 30), "the introduction")
    server.admit(hello.peer)
}

/// The ZeroMQ message of one chunk: its header and its bytes.
func chunk(_ sequence: UInt64, frame: UInt32, of count: UInt32, size: UInt64, offset: UInt64, _ data: TensorStorage) -> [TensorStorage] {
    [ChunkHeader(kind: .chunk, sequence: sequence, frameCount: count, frameIndex: frame, frameSize: size, offset: offset).encoded(), data]
}

/// Storage of `count` bytes, byte i = (i * 7 + seed) mod 251.
func patterned(_ count: Int, seed: Int = 0) -> TensorStorage {
    TensorStorage(count: count) { buffer in
        for i in 0..<count { buffer[i] = UInt8((i &* 7 &+ seed) % 251) }
    }
}

func bytes(_ values: [UInt8]) -> TensorStorage { values.withUnsafeBytes { TensorStorage(copying: $0) } }

func bytes(_ storage: TensorStorage) -> [UInt8] { withExtendedLifetime(storage) { Array(storage.bytes) } }

func sameBytes(_ a: TensorStorage, _ b: TensorStorage) -> Bool {
    withExtendedLifetime((a, b)) { a.bytes.elementsEqual(b.bytes) }
}

/// Expects `got` to hold `sent`'s frames byte for byte, each 8-byte aligned.
func expectSame(_ got: [TensorStorage], _ sent: [TensorStorage], _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.count == sent.count, "\(context): \(got.count) frames, sent \(sent.count)", sourceLocation: sourceLocation)
    for (index, (received, original)) in zip(got, sent).enumerated() {
        #expect(sameBytes(received, original), "\(context): frame \(index) (\(original.bytes.count) bytes) differs", sourceLocation: sourceLocation)
        if let base = received.bytes.baseAddress {
            #expect(Int(bitPattern: base) % 8 == 0, "\(context): frame \(index) (\(received.bytes.count) bytes) is misaligned", sourceLocation: sourceLocation)
        }
    }
}
