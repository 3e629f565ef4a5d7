import Cluster
import JobProtocol
import Tensors
import Testing
import Transport
import Wire
import TestSupport

/// The pool and the worker server over the in-process transport: the protocol logic without processes.
@Suite("Cluster over the in-process transport")
struct InProcessClusterTests {
    /// A worker server listening at `name` on `network`, running until the test ends.
    struct RunningWorker {
        let transport: InProcessTransport
        let server: WorkerServer
        let handler: RecordingHandler
        let logs: LogLines
        let task: Task<Void, Never>
    }

    /// A bare transport connected to worker `name` that has sent one Hello (heartbeat interval and
    /// timeout in milliseconds) and nothing else.
    static func sayHello(to name: String, on network: InProcessNetwork, as coordinator: String, interval: UInt32, timeout: UInt32) async throws -> InProcessTransport {
        let transport = InProcessTransport(network: network)
        let peer = try await transport.connect(to: name)
        try transport.send(WireCodec.encode(Message(.hello(Hello(coordinator: coordinator, heartbeatIntervalMilliseconds: interval, heartbeatTimeoutMilliseconds: timeout)))), to: peer)
        return transport
    }

    static func startWorker(_ name: String, on network: InProcessNetwork, version: UInt32 = WireProtocol.version) async throws -> RunningWorker {
        let transport = InProcessTransport(network: network)
        _ = try await transport.listen(on: name)
        let handler = RecordingHandler()
        let logs = LogLines()
        let capabilities = Capabilities(cores: 8, memoryBytes: 1 << 34, deviceKind: "cpu", threads: 4, hostname: "test", pid: 1)
        let server = WorkerServer(
            transport: transport, handler: handler, configuration: ServerConfiguration(capabilities: capabilities, description: name, protocolVersion: version),
            log: logs.log)
        let task = Task { await server.run() }
        return RunningWorker(transport: transport, server: server, handler: handler, logs: logs, task: task)
    }

    @Test("handshake, requests with tensors, broadcast, handler errors, shutdown")
    func requests() async throws {
        let network = InProcessNetwork()
        let workers = [try await Self.startWorker("w0", on: network), try await Self.startWorker("w1", on: network)]
        let pool = WorkerPool(transport: InProcessTransport(network: network), configuration: fastPool(), log: LogLines().log)
        let events = Collector(pool.events)
        let info = try await pool.connect(to: "w0")
        #expect(info.capabilities.cores == 8)
        #expect(info.workerDescription == "w0")
        let second = try await pool.connect(to: "w1")
        #expect(await pool.workers.map(\.id) == [info.id, second.id])
        #expect(await events.first { if case .joined = $0 { true } else { false } } != nil)

        // Echo returns the very tensors sent (in-process: the same storage).
        let payload = NamedTensor("x", floats([1, 2, 3.5]))
        let echo = try await pool.request(.echo(Echo(note: "hi")), tensors: [payload], to: info.id)
        #expect(echo.message.body == .echo(Echo(note: "hi")))
        #expect(echo.message.tensors.first?.tensor.storage === payload.tensor.storage)

        // A job: JobSpec first, then job requests with the job id; task ids and attempts come back.
        let sequences = [[Int32]](repeating: [Int32](repeating: 1, count: 16), count: 3)
        let accepted = try await pool.request(start("job-1", sequences: sequences), to: info.id, jobID: "job-1", taskID: 77, attempt: 2)
        #expect(accepted.message.body == .reply(.started(tokens: 48)))
        #expect(accepted.message.taskID == 77 && accepted.message.attempt == 2 && accepted.message.jobID == "job-1")
        let sum = try await pool.request(.evaluate(Evaluate(kind: "sum")), tensors: [NamedTensor("a", floats([1, 2])), NamedTensor("b", floats([0.5]))], to: info.id, jobID: "job-1")
        #expect(sum.message.body == .evaluated(Evaluated(kind: "sum", values: [3.5])))

        // A handler error reaches the caller with its code and message; the session goes on.
        do {
            _ = try await pool.request(.evaluate(Evaluate(kind: "fail", layer: 3)), to: info.id, jobID: "job-1")
            Issue.record("the failing request succeeded")
        } catch let error as ClusterError {
            #expect(error.code == .remote)
            #expect(error.report?.code == .invalidArgument)
            #expect(error.message.contains("layer 3"))
        }
        let loaded = try await pool.request(.request(.loadLayer(index: 0, weights: ["w": floats([1, 2, 3, 4])])), to: info.id, jobID: "job-1")
        #expect(loaded.message.body == .reply(.loaded(layer: 0)))
        #expect(workers[0].handler.requests == [.jobSpec, .evaluate, .evaluate, .loadLayer])

        // Broadcast: every worker answers.
        let replies = await pool.broadcast(.echo(Echo(note: "all")))
        #expect(replies.count == 2)
        #expect(replies.values.allSatisfy { (try? $0.get())?.message.body == .echo(Echo(note: "all")) })

        await pool.shutdown(reason: "test done", exitProcesses: true)
        for worker in workers { await worker.task.value }
        #expect(workers[0].handler.endings.count == 1)
        #expect(workers[0].logs.contains("shutdown requested by test coordinator: test done"))
    }

    @Test("a job request whose frames do not fit its body is answered with an Error under its task id; the session goes on")
    func invalidJobRequest() async throws {
        let network = InProcessNetwork()
        let worker = try await Self.startWorker("w", on: network)
        let pool = WorkerPool(transport: InProcessTransport(network: network), configuration: fastPool(), log: LogLines().log)
        let info = try await pool.connect(to: "w")
        // An empty sequence encodes (lengths [2, 0]) but is no sample: the worker's decoder refuses it.
        do {
            _ = try await pool.request(start("j", sequences: [[1, 2], []]), to: info.id, jobID: "j", taskID: 41)
            Issue.record("a job with an empty sequence was accepted")
        } catch let error as ClusterError {
            #expect(error.code == .remote, "\(error)")
            #expect(error.report?.code == .invalidArgument)
            #expect(error.message.contains("lengths"), "\(error.message)")
        }
        #expect(try await pool.request(.echo(Echo(note: "still here")), to: info.id).message.body == .echo(Echo(note: "still here")))
        #expect(worker.handler.requests.isEmpty, "the handler never saw the invalid request")
        await pool.shutdown(reason: "done", exitProcesses: true)
        await worker.server.stop()
    }

    @Test("job requests before JobSpec, or for another job, are refused and end the session")
    func jobChecks() async throws {
        let network = InProcessNetwork()
        let worker = try await Self.startWorker("w", on: network)
        let pool = WorkerPool(transport: InProcessTransport(network: network), configuration: fastPool(), log: LogLines().log)
        let events = Collector(pool.events)
        var info = try await pool.connect(to: "w")
        await #expect(throws: ClusterError.self) { try await pool.request(.request(.loadLayer(index: 0, weights: nil)), to: info.id, jobID: "j") }
        #expect(await events.first { if case .lost = $0 { true } else { false } } != nil)
        #expect(worker.logs.contains("LoadLayer before any JobSpec"))

        // A new session, a job, and a request naming another job.
        try await Task.sleep(for: .milliseconds(50))
        info = try await pool.connect(to: "w")
        _ = try await pool.request(start("job-a"), to: info.id, jobID: "job-a")
        do {
            _ = try await pool.request(.request(.loadLayer(index: 0, weights: nil)), to: info.id, jobID: "job-b")
            Issue.record("a request for an unknown job succeeded")
        } catch let error as ClusterError {
            #expect(error.report?.code == .unknownJob)
            #expect(error.message.contains("job-b"))
        }
        #expect(await pool.workers.isEmpty, "the worker ended the session; the pool knows")
        await pool.shutdown(reason: "done", exitProcesses: true)
        await worker.server.stop()
    }

    @Test("a coordinator of another protocol version is refused, naming both versions")
    func versionMismatch() async throws {
        let network = InProcessNetwork()
        let worker = try await Self.startWorker("w", on: network)
        let pool = WorkerPool(transport: InProcessTransport(network: network), configuration: fastPool(version: 9), log: LogLines().log)
        do {
            _ = try await pool.connect(to: "w")
            Issue.record("the handshake succeeded")
        } catch let error as ClusterError {
            #expect(error.code == .versionMismatch)
            #expect(error.message.contains("version 9") && error.message.contains("version \(WireProtocol.version)"), "\(error.message)")
        }
        #expect(worker.logs.contains("protocol version 9"))
        // The worker keeps serving coordinators of its version.
        let good = WorkerPool(transport: InProcessTransport(network: network), configuration: fastPool(), log: LogLines().log)
        _ = try await good.connect(to: "w")
        await good.shutdown(reason: "done", exitProcesses: false)
        await pool.shutdown(reason: "done", exitProcesses: false)
        await worker.server.stop()
    }

    @Test("a worker of another protocol version is refused by the coordinator")
    func workerVersionMismatch() async throws {
        let network = InProcessNetwork()
        let worker = try await Self.startWorker("w", on: network, version: WireProtocol.version + 1)
        let pool = WorkerPool(transport: InProcessTransport(network: network), configuration: fastPool(), log: LogLines().log)
        await #expect(throws: ClusterError.self) { try await pool.connect(to: "w") }
        await pool.shutdown(reason: "done", exitProcesses: false)
        await worker.server.stop()
    }

    @Test("a worker that falls silent is lost, with its address; its pending request fails")
    func heartbeatTimeout() async throws {
        let network = InProcessNetwork()
        let worker = try await Self.startWorker("quiet-worker", on: network)
        let pool = WorkerPool(transport: InProcessTransport(network: network), configuration: fastPool(interval: 20, timeout: 200), log: LogLines().log)
        let events = Collector(pool.events)
        let info = try await pool.connect(to: "quiet-worker")
        _ = try await pool.request(start("j"), to: info.id, jobID: "j")
        // A slow request is pending when the worker disappears.
        let pending = Task { try await pool.request(.evaluate(Evaluate(kind: "sleep", parameters: [30])), to: info.id, jobID: "j") }
        try await Task.sleep(for: .milliseconds(100))
        await worker.server.stop()  // closes its transport: no more heartbeats, nothing delivered
        // The 200 ms timeout counts ticks that ran (late ones are forgiven): on a loaded machine,
        // with the cooperative pool busy in other suites, ten 20 ms ticks can take a minute.
        let lost = await events.first(timeout: 120) { if case .lost = $0 { true } else { false } }
        guard case .lost(let id, let endpoint, let reason)? = lost else {
            Issue.record("no loss reported")
            return
        }
        #expect(id == info.id && endpoint == "quiet-worker")
        #expect(reason.contains("heartbeat timeout"), "\(reason)")
        await #expect(throws: ClusterError.self) { try await pending.value }
        await pool.shutdown(reason: "done", exitProcesses: false)
    }

    @Test("a coordinator that falls silent ends the worker's session, and the handler hears of it")
    func coordinatorSilence() async throws {
        let network = InProcessNetwork()
        let worker = try await Self.startWorker("w", on: network)
        // A bare transport says Hello and then nothing.
        let coordinator = try await Self.sayHello(to: "w", on: network, as: "mute", interval: 20, timeout: 100)
        for _ in 0..<200 where worker.handler.endings.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        #expect(worker.handler.endings == ["the coordinator fell silent"])
        #expect(worker.logs.contains("mute at"))
        await coordinator.close()
        await worker.server.stop()
    }

    @Test("a second coordinator is told the worker is busy")
    func busy() async throws {
        let network = InProcessNetwork()
        let worker = try await Self.startWorker("w", on: network)
        let first = WorkerPool(transport: InProcessTransport(network: network), configuration: fastPool(), log: LogLines().log)
        let second = WorkerPool(transport: InProcessTransport(network: network), configuration: fastPool(), log: LogLines().log)
        _ = try await first.connect(to: "w")
        do {
            _ = try await second.connect(to: "w")
            Issue.record("a busy worker accepted a second coordinator")
        } catch let error as ClusterError {
            #expect(error.report?.code == .busy)
            #expect(error.message.contains("test coordinator"))
        }
        await first.shutdown(reason: "done", exitProcesses: false)
        await second.shutdown(reason: "done", exitProcesses: false)
        await worker.server.stop()
    }

    @Test("a Hello asking for an hour's heartbeat timeout gets 10 minutes: a peer that says Hello and falls silent squats the worker for at most that long")
    func squatterTimeout() async throws {
        let network = InProcessNetwork()
        let worker = try await Self.startWorker("w", on: network)
        let squatter = try await Self.sayHello(to: "w", on: network, as: "squatter", interval: 1000, timeout: 3_600_000)
        let second = WorkerPool(transport: InProcessTransport(network: network), configuration: fastPool(), log: LogLines().log)
        for _ in 0..<500 where !worker.logs.contains("squatter at") { try await Task.sleep(for: .milliseconds(10)) }
        do {
            _ = try await second.connect(to: "w")
            Issue.record("a busy worker accepted a second coordinator")
        } catch let error as ClusterError {
            #expect(error.report?.code == .busy)
            #expect(error.message.contains("after 600.0 s of silence"), "\(error.message)")
        }
        #expect(worker.logs.contains("timeout 600000 ms"), "\(worker.logs)")
        await second.shutdown(reason: "done", exitProcesses: false)
        await squatter.close()
        await worker.server.stop()
    }

    @Test("garbage from a worker drops that worker only; late replies are dropped without dropping the worker")
    func garbageFromWorker() async throws {
        let network = InProcessNetwork()
        let good = try await Self.startWorker("good", on: network)
        // A fake worker: welcomes, then answers every later message with mutated envelopes.
        let fake = InProcessTransport(network: network)
        _ = try await fake.listen(on: "fake")
        let fakeTask = Task {
            var generator = SplitMix64(seed: 42)
            var welcomed = Set<PeerID>()
            for await inbound in fake.inbound {
                guard let message = try? WireCodec.decode(inbound.frames) else { continue }
                if case .hello = message.body, !welcomed.contains(inbound.peer) {
                    welcomed.insert(inbound.peer)
                    try? fake.send(WireCodec.encode(Message(.welcome(Welcome(capabilities: .local(threads: 1), worker: "fake")))), to: inbound.peer)
                    // A reply nobody asked for: dropped, not fatal.
                    try? fake.send(WireCodec.encode(Message(.echo(Echo()), taskID: 999_999)), to: inbound.peer)
                } else {
                    try? fake.send(Garbage.frames(&generator), to: inbound.peer)
                }
            }
        }
        let logs = LogLines()
        let pool = WorkerPool(transport: InProcessTransport(network: network), configuration: fastPool(interval: 10, timeout: 2000), log: logs.log)
        let events = Collector(pool.events)
        let goodInfo = try await pool.connect(to: "good")
        var dropped = 0
        for round in 0..<100 {
            let info = try await pool.connect(to: "fake")
            // Heartbeats draw garbage; some mutations still decode (as a heartbeat, say), so wait for
            // the loss: the 2 s timeout, measured in ticks that ran, takes longer on a loaded machine.
            let lost = await events.first(timeout: 20) { if case .lost(let id, _, _) = $0 { id == info.id } else { false } }
            if lost != nil { dropped += 1 } else { Issue.record("round \(round): the fake worker was not dropped") }
        }
        #expect(dropped == 100)
        #expect(logs.contains("late or duplicate Echo task 999999"))
        // The good worker was never disturbed.
        let reply = try await pool.request(.echo(Echo(note: "still here")), to: goodInfo.id)
        #expect(reply.message.body == .echo(Echo(note: "still here")))
        #expect(await pool.workers.map(\.id) == [goodInfo.id])
        await pool.shutdown(reason: "done", exitProcesses: false)
        await fake.close()
        fakeTask.cancel()
        await good.server.stop()
    }
}

@Suite("Embedded workers")
struct EmbeddedClusterTests {
    @Test("startEmbedded runs workers in this process over the in-process transport, and shutdown stops them")
    func embedded() async throws {
        let handlers = [RecordingHandler(), RecordingHandler(), RecordingHandler()]
        let cluster = try await WorkerCluster.startEmbedded(count: 3, makeHandler: { handlers[$0] }, configuration: fastPool(), log: LogLines().log)
        #expect(cluster.workers.map(\.workerDescription) == ["embedded-worker-0", "embedded-worker-1", "embedded-worker-2"])
        let replies = await cluster.pool.broadcast(start("e"), jobID: "e")
        #expect(replies.values.allSatisfy { (try? $0.get()) != nil })
        #expect(handlers.allSatisfy { $0.requests == [.jobSpec] })
        await cluster.shutdown(reason: "done")
        #expect(handlers.allSatisfy { $0.endings.count == 1 })
    }
}
