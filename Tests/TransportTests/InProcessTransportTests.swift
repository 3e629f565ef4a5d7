import Tensors
import Testing
import Transport

@Suite("In-process transport")
struct InProcessTransportTests {
    @Test("messages go both ways whole and in order, as the very same storage")
    func roundTrip() async throws {
        let network = InProcessNetwork()
        let server = InProcessTransport(network: network)
        let client = InProcessTransport(network: network)
        #expect(try await server.listen(on: "worker-0") == "worker-0")
        let serverBox = Mailbox(server)
        let clientBox = Mailbox(client)
        let peer = try await client.connect(to: "worker-0")
        let big = patterned(1 << 20)
        for index in 0..<50 {
            try client.send([patterned(8, seed: index), big], to: peer)
        }
        for index in 0..<50 {
            let message = try #require(await serverBox.next())
            #expect(message.frames.count == 2)
            #expect(same(message.frames[0], patterned(8, seed: index)))
            #expect(message.frames[1] === big)
            try server.send([message.frames[0]], to: message.peer)
        }
        for index in 0..<50 {
            let reply = try #require(await clientBox.next())
            #expect(reply.peer == peer)
            #expect(same(reply.frames[0], patterned(8, seed: index)))
        }
        await client.close()
        await server.close()
    }

    @Test("unknown endpoints, endpoints in use, disconnected peers and closed transports are errors or drops")
    func failures() async throws {
        let network = InProcessNetwork()
        let server = InProcessTransport(network: network)
        let client = InProcessTransport(network: network)
        await #expect(throws: TransportError.self) { try await client.connect(to: "nowhere") }
        _ = try await server.listen(on: "w")
        await #expect(throws: TransportError.self) { try await client.listen(on: "w") }
        let serverBox = Mailbox(server)
        let peer = try await client.connect(to: "w")
        try client.send([patterned(4)], to: peer)
        let first = try #require(await serverBox.next())
        // The server forgets the client: its messages are dropped from then on.
        server.disconnect(first.peer)
        try client.send([patterned(4)], to: peer)
        #expect(await serverBox.next(timeout: 0.2) == nil)
        #expect(throws: TransportError.self) { try server.send([patterned(1)], to: first.peer) }
        client.disconnect(peer)
        #expect(throws: TransportError.self) { try client.send([patterned(1)], to: peer) }
        await server.close()
        #expect(await serverBox.isFinished)
        await #expect(throws: TransportError.self) { try await client.connect(to: "w") }
        await client.close()
    }
}
