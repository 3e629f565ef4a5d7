import Cluster
import JobProtocol
import Synchronization
import Tensors
import Testing
import Transport
import Wire

/// A transport that can hold back what it receives, as a slow link holds back a large message:
/// while `withholding`, inbound messages wait (in order) and `lastReceived(from:)` says bytes are
/// arriving now (`arriving`) or says nothing new (a link that went quiet).
final class WithholdingTransport: Transport {
    private struct State {
        var withholding = false
        var arriving = false
        var held: [Inbound] = []
        /// When the last hold ended: its messages' bytes had all arrived by then.
        var released: ContinuousClock.Instant?
    }

    let inbound: AsyncStream<Inbound>
    private let continuation: AsyncStream<Inbound>.Continuation
    private let inner: InProcessTransport
    private let state = Mutex(State())

    init(_ inner: InProcessTransport) {
        self.inner = inner
        (inbound, continuation) = AsyncStream.makeStream(of: Inbound.self)
        let stream = inner.inbound
        Task { [self] in
            for await message in stream {
                let pass = self.state.withLock { state -> Bool in
                    if state.withholding { state.held.append(message) }
                    return !state.withholding
                }
                if pass { continuation.yield(message) }
            }
            continuation.finish()
        }
    }

    /// Holds back inbound messages from now on; with `arriving`, reports bytes arriving meanwhile.
    func withhold(arriving: Bool) {
        state.withLock { ($0.withholding, $0.arriving) = (true, arriving) }
    }

    /// Delivers what was held back, in order, and stops holding.
    func release() {
        let held = state.withLock { state in
            defer { (state.withholding, state.arriving, state.held, state.released) = (false, false, [], .now) }
            return state.held
        }
        for message in held { continuation.yield(message) }
    }

    func listen(on endpoint: String) async throws -> String { try await inner.listen(on: endpoint) }
    func connect(to endpoint: String, serverKey: String?) async throws -> PeerID { try await inner.connect(to: endpoint, serverKey: serverKey) }
    func send(_ frames: [TensorStorage], to peer: PeerID) throws { try inner.send(frames, to: peer) }
    func disconnect(_ peer: PeerID) { inner.disconnect(peer) }
    func admit(_ peer: PeerID) { inner.admit(peer) }
    func address(of peer: PeerID) -> String { inner.address(of: peer) }
    func close() async { await inner.close() }

    func lastReceived(from peer: PeerID) -> ContinuousClock.Instant? {
        let (withholding, arriving, released) = state.withLock { ($0.withholding, $0.arriving, $0.released) }
        if arriving { return .now }
        // A quiet link: nothing new since the hold began (what was held was not yet received).
        if withholding { return nil }
        // After a hold the held messages count as received when it ended, as a slow link's last
        // bytes do (the inner transport stamped them when they were held back).
        let inner = inner.lastReceived(from: peer)
        guard let released else { return inner }
        return max(inner ?? released, released)
    }
}

/// Liveness judged by bytes received: a peer whose message is still in transit (its bytes
/// arriving) is alive for as long as that takes, on both sides; one whose bytes stop is not.
@Suite("Liveness from bytes received")
struct ByteLivenessTests {
    /// A timeout of three intervals: a loss needs only four heartbeat checks on time. 600 ms,
    /// not less: under the whole suite on 2 cores a worker's heartbeat was once starved 200 ms.
    static let interval = 200
    static let timeout = 600

    /// How long a transfer is held in transit: 6 heartbeat timeouts, or, for a link that went
    /// quiet, until the loss (late heartbeat checks are not counted as silence, and under the
    /// whole suite on 2 cores the cooperative pool can run a check seconds late: a loss took
    /// over 30 s of wall time once).
    static func hold(arriving: Bool) -> Double { arriving ? Double(6 * timeout) / 1000 : 90 }

    func isLoss(_ event: PoolEvent) -> Bool { if case .lost = event { true } else { false } }

    @Test("the pool keeps a worker whose reply is in transit for 6 heartbeat timeouts, and loses one whose bytes stop",
          arguments: [true, false])
    func poolSide(arriving: Bool) async throws {
        let network = InProcessNetwork()
        let worker = try await InProcessClusterTests.startWorker("w", on: network)
        let transport = WithholdingTransport(InProcessTransport(network: network))
        let pool = WorkerPool(transport: transport, configuration: fastPool(interval: Self.interval, timeout: Self.timeout), log: LogLines().log)
        let events = Collector(pool.events)
        let info = try await pool.connect(to: "w")
        transport.withhold(arriving: arriving)
        let echo = Task { try await pool.request(.echo(Echo(note: "slow")), tensors: [NamedTensor("x", floats([1, 2]))], to: info.id) }
        let loss = await events.first(timeout: Self.hold(arriving: arriving), where: isLoss)
        transport.release()
        if arriving {
            #expect(loss == nil, "\(String(describing: loss))")
            #expect(try await echo.value.message.body == .echo(Echo(note: "slow")))
            #expect(await pool.workers.map(\.id) == [info.id])
        } else {
            guard case .lost(_, _, let reason)? = loss else {
                Issue.record("a worker whose bytes stopped was not lost")
                return
            }
            #expect(reason.contains("nothing received for") && reason.contains("heartbeat timeout"), "\(reason)")
            await #expect(throws: ClusterError.self) { try await echo.value }
        }
        await pool.shutdown(reason: "done", exitProcesses: false)
        await worker.server.stop()
    }

    @Test("a worker keeps a session whose request is in transit for 6 heartbeat timeouts, and ends one whose bytes stop",
          arguments: [true, false])
    func serverSide(arriving: Bool) async throws {
        let network = InProcessNetwork()
        let transport = WithholdingTransport(InProcessTransport(network: network))
        _ = try await transport.listen(on: "w")
        let handler = RecordingHandler()
        let logs = LogLines()
        let capabilities = Capabilities(cores: 1, memoryBytes: 1 << 30, deviceKind: "cpu", threads: 1, hostname: "test", pid: 1)
        let server = WorkerServer(transport: transport, handler: handler,
                                  configuration: ServerConfiguration(capabilities: capabilities, description: "w"), log: logs.log)
        let serving = Task { await server.run() }
        // The worker's heartbeats keep flowing to the pool, which loses it only once it ends the session.
        let pool = WorkerPool(transport: InProcessTransport(network: network), configuration: fastPool(interval: Self.interval, timeout: Self.timeout), log: LogLines().log)
        let events = Collector(pool.events)
        let info = try await pool.connect(to: "w")
        transport.withhold(arriving: arriving)
        let echo = Task { try await pool.request(.echo(Echo(note: "slow")), tensors: [NamedTensor("x", floats([3]))], to: info.id) }
        let loss = await events.first(timeout: Self.hold(arriving: arriving), where: isLoss)
        transport.release()
        if arriving {
            #expect(loss == nil, "\(String(describing: loss))")
            #expect(handler.endings.isEmpty, "\(handler.endings)")
            #expect(try await echo.value.message.body == .echo(Echo(note: "slow")))
        } else {
            #expect(loss != nil, "the pool did not lose the worker whose session ended")
            for _ in 0..<3000 where handler.endings.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
            #expect(handler.endings == ["the coordinator fell silent"])
            #expect(logs.contains("silent for"))
            await #expect(throws: ClusterError.self) { try await echo.value }
        }
        await pool.shutdown(reason: "done", exitProcesses: false)
        await server.stop()
        await serving.value
    }
}
