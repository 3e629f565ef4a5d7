import Checkpoint
import Cluster
import CoordinatorCore
import Foundation
import JobProtocol
import Kernels
import Model
import RemoteWorkers
import Tensors
import TestSupport
import Testing
import Transport
import Wire
import WorkerCore
import WorkerService

/// The job over the protocol: codec round trips, then whole jobs over the in-process transport
/// and over real `worker` processes, each compared byte for byte with in-process workers.
@Suite("the job over the wire")
struct JobOverWireTests {
    static func model(_ name: String) -> String { Repository.model(name) }

    static func samples() -> [[Int32]] { tokenSequences(count: 6, length: 13, vocabulary: 101, seed: 3) }

    static func recipe(_ method: Recipe.Method = .gptq, stream: Bool = false) -> Recipe {
        var recipe = Recipe()
        recipe.method = method
        recipe.groupSize = 32
        recipe.symmetric = method != .awq
        recipe.streamWeights = stream
        return recipe
    }

    static func run(_ workers: JobWorkers, recipe: Recipe, model: String = model("llama"), minWorkers: Int = 1) async throws -> JobReport {
        let out = NSTemporaryDirectory() + "calibrate-wire-\(UUID().uuidString)"
        do {
            let job = try CalibrationJob(
                inputs: JobInputs(modelPath: model, outputPath: out, overwrite: false, recipe: recipe, sequences: samples(),
                                  workerThreads: 1, statisticsBatchTokens: 26, minWorkers: minWorkers),
                workers: workers.connections)
            let report = try await job.run()
            await workers.shutdown()
            return report
        } catch {
            await workers.shutdown()
            throw error
        }
    }

    /// `count` workers in this process, called directly (no protocol at all).
    static func inProcess(_ count: Int) -> JobWorkers {
        JobWorkers(connections: (0..<count).map { SerialWorker(index: $0) }, shutdown: {})
    }

    /// Fast heartbeats, a timeout with room for a machine busy with the parallel tests: a lost
    /// worker is noticed within 8 s (1.5 s starved a healthy worker once when two suites ran at
    /// once; with 4 s both healthy workers of several tests were lost at once under the whole suite).
    static var pool: PoolConfiguration {
        PoolConfiguration(heartbeatInterval: .milliseconds(100), heartbeatTimeout: .milliseconds(8000), handshakeTimeout: .seconds(30))
    }

    @Test("every request and reply survives the codec", arguments: ["llama", "qwen3"], [Recipe.Method.gptq, .awq])
    func codecRoundTrips(model: String, method: Recipe.Method) async throws {
        // Record what an in-process job sends and receives, then push each through encode → decode.
        let recorder = RecordingWorker(inner: SerialWorker(index: 0))
        var recipe = Self.recipe(method)
        recipe.awqOutputLoss = model == "llama" ? .gram : .samples  // both forms of AWQ's output-group search
        _ = try await Self.run(JobWorkers(connections: [recorder], shutdown: {}), recipe: recipe, model: Self.model(model))
        let exchanges = await recorder.exchanges
        #expect(exchanges.count > 20)
        var corruptionsCompared = 0
        for (request, reply) in exchanges {
            var jobID = "j"
            if case .start(let job, _) = request { jobID = job.jobID }  // the job id travels in the envelope
            let message = Message(.request(request), jobID: jobID, taskID: 1)
            let decoded = try WireCodec.decode(WireCodec.encode(message))
            #expect(decoded.body == .request(request), "\(message.type)")  // values and every tensor byte
            let replyMessage = Message(.reply(reply), jobID: jobID, taskID: 1)
            #expect(try WireCodec.decode(WireCodec.encode(replyMessage)).body == .reply(reply), "\(replyMessage.type)")
            // The comparison sees payloads: one flipped low bit in a frame (with its checksum
            // recomputed, and a value that stays valid, so it decodes) makes the decoded value differ.
            if let victim = message.tensors.firstIndex(where: { $0.tensor.byteCount > 0 }) {
                let original = message.tensors[victim].tensor
                let flipped = try Tensor(dtype: original.dtype, shape: original.shape, bytes: original.storage.bytes.enumerated().map {
                    $0.offset == 0 ? $0.element ^ 1 : $0.element
                })
                var bad = message
                bad.tensors[victim] = NamedTensor(message.tensors[victim].name, flipped)
                if let decodedBad = try? WireCodec.decode(WireCodec.encode(bad)) {
                    #expect(decodedBad.body != .request(request), "\(message.type): a flipped payload bit compared equal")
                    corruptionsCompared += 1
                }
            }
        }
        #expect(corruptionsCompared > 5, "corrupted payloads that decoded: \(corruptionsCompared)")
    }

    @Test("over the in-process transport, 2 workers write what in-process workers write", arguments: [Recipe.Method.gptq, .awq], [Recipe.AWQOutputLoss.gram, .samples])
    func embedded(method: Recipe.Method, outputLoss: Recipe.AWQOutputLoss) async throws {
        var recipe = Self.recipe(method)
        recipe.awqOutputLoss = outputLoss
        let direct = try await Self.run(Self.inProcess(2), recipe: recipe)
        let wire = try await Self.run(try await JobWorkers.embedded(count: 2, configuration: Self.pool, makeHandler: { _ in CalibrationHandler() }), recipe: recipe)
        #expect(wire.shards.map(\.sha256) == direct.shards.map(\.sha256))
        #expect(wire.bytesSent > 0 && wire.bytesReceived > 0)
        // Every byte is counted under the request kind it belonged to, per link and per layer.
        let links = wire.processes.filter { $0.role == "worker" }.compactMap(\.traffic)
        #expect(links.count == 2)
        #expect(links.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.sent } } == wire.bytesSent)
        #expect(links.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.received } } == wire.bytesReceived)
        for link in links {
            #expect(["start", "load", "capture", "apply", "finish"].allSatisfy { link[$0] != nil }, "\(link.keys.sorted())")
            #expect(link["capture"]!.received > 0 && link["capture"]!.sent > 0)
        }
        let layers = wire.layers.compactMap(\.traffic)
        #expect(layers.count == wire.layers.count)
        #expect(layers.allSatisfy { $0["capture"]?.received ?? 0 > 0 && $0["start"] == nil && $0["finish"] == nil })
        #expect(wire.markdown().contains("## Traffic"))
    }

    @Test("two real worker processes write the same bytes, also with streamed weights; none is left running")
    func localProcesses() async throws {
        let direct = try await Self.run(Self.inProcess(3), recipe: Self.recipe())
        let workers = try await JobWorkers.connect(.local(count: 2, threads: 1, executable: nil), configuration: Self.pool)
        let addresses = workers.connections.map(\.address)
        let processes = try await Self.run(workers, recipe: Self.recipe())
        #expect(processes.shards.map(\.sha256) == direct.shards.map(\.sha256))
        #expect(processes.processes.filter { $0.role == "worker" }.allSatisfy { $0.peakResidentBytes > 0 })
        let streamed = try await Self.run(try await JobWorkers.connect(.local(count: 2, threads: 1, executable: nil), configuration: Self.pool),
                                          recipe: Self.recipe(stream: true))
        #expect(streamed.shards.map(\.sha256) == direct.shards.map(\.sha256))
        for address in addresses {
            #expect(!FileManager.default.fileExists(atPath: String(address.dropFirst("ipc://".count))), "socket \(address) removed")
        }
    }

    @Test("a worker whose coordinator falls silent mid-job frees the job and serves the next coordinator's job, writing the same bytes")
    func abandonedJob() async throws {
        let network = InProcessNetwork()
        let listener = InProcessTransport(network: network)
        _ = try await listener.listen(on: "w")
        let server = WorkerServer(
            transport: listener, handler: CalibrationHandler(),
            configuration: ServerConfiguration(capabilities: .local(threads: 1), description: "w"), log: Log(label: "test", minimumLevel: .error) { _, _ in })
        let serving = Task { await server.run() }
        // A coordinator that starts a job (the worker embeds its samples) and then says nothing more.
        let mute = InProcessTransport(network: network)
        let peer = try await mute.connect(to: "w")
        try mute.send(WireCodec.encode(Message(.hello(Hello(coordinator: "mute", heartbeatIntervalMilliseconds: 20, heartbeatTimeoutMilliseconds: 200)))), to: peer)
        let config = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.model("llama") + "/config.json")))
        let job = WorkerJob(jobID: "abandoned", modelPath: Self.model("llama"), configJSON: config, sequences: Self.samples(), firstSample: 0, threads: 1)
        try mute.send(WireCodec.encode(Message(.request(.start(job, embeddings: nil)), jobID: job.jobID, taskID: 1)), to: peer)
        try mute.send(WireCodec.encode(Message(.request(.loadLayer(index: 0, weights: nil)), jobID: job.jobID, taskID: 2)), to: peer)
        // The next coordinator: refused as busy until the silent session ends, then served.
        let pool = WorkerPool(transport: InProcessTransport(network: network), configuration: Self.pool, log: Log(label: "test", minimumLevel: .error) { _, _ in })
        var info: WorkerInfo?
        for _ in 0..<100 where info == nil {
            info = try? await pool.connect(to: "w")
            if info == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let connected = try #require(info, "the worker never became free")
        let report = try await Self.run(JobWorkers(connections: [RemoteWorker(pool: pool, info: connected)], shutdown: {
            await pool.shutdown(reason: "done", exitProcesses: false)
        }), recipe: Self.recipe())
        let direct = try await Self.run(Self.inProcess(1), recipe: Self.recipe())
        #expect(report.shards.map(\.sha256) == direct.shards.map(\.sha256))
        await mute.close()
        await server.stop()
        await serving.value
    }

    @Test("an unreachable worker in the hosts file fails the connection, naming its address, before any work")
    func unreachableWorker() async throws {
        let hosts = NSTemporaryDirectory() + "calibrate-hosts-\(UUID().uuidString).txt"
        try "# nothing listens on port 9 (discard) here\n127.0.0.1:9\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: hosts) }
        let configuration = PoolConfiguration(heartbeatInterval: .milliseconds(100), heartbeatTimeout: .milliseconds(1500), handshakeTimeout: .seconds(1))
        let error = await #expect(throws: (any Error).self) {
            _ = try await JobWorkers.connect(.hostsFile(hosts), configuration: configuration)
        }
        #expect("\(error!)".contains("127.0.0.1:9"), "\(error!)")
    }

    /// Requests to the victim, in order: start, load 0, capture 0 q/k/v, solve, apply, capture o…
    @Test("a local worker process SIGKILLed before its start, load, capture, solve or apply: the other one finishes the job with the bytes of an undisturbed run",
          arguments: [1, 2, 3, 4, 5])
    func killedInPhase(request: Int) async throws {
        let undisturbed = try await Self.run(JobWorkers(connections: [SerialWorker(index: 0), SerialWorker(index: 1)], shutdown: {}), recipe: Self.recipe())
        let workers = try await JobWorkers.connect(.local(count: 2, threads: 1, executable: nil), configuration: Self.pool)
        let report = try await Self.run(JobWorkers(connections: [FaultingWorker.killing(workers.connections[0], at: request), workers.connections[1]],
                                                   shutdown: workers.shutdown), recipe: Self.recipe())
        #expect(report.shards.map(\.sha256) == undisturbed.shards.map(\.sha256), "killed before request \(request)")
        #expect(report.losses.count == 1, "\(report.losses)")
    }

    @Test("a local worker process SIGKILLed mid-job: the other one finishes the job with the bytes of an undisturbed run; with --min-workers 2 the job stops, naming it")
    func killedWorker() async throws {
        let undisturbed = try await Self.run(JobWorkers(connections: [SerialWorker(index: 0), SerialWorker(index: 1)], shutdown: {}), recipe: Self.recipe())
        let workers = try await JobWorkers.connect(.local(count: 2, threads: 1, executable: nil), configuration: Self.pool)
        let victim = workers.connections[1]
        let report = try await Self.run(JobWorkers(connections: [workers.connections[0], FaultingWorker.killing(victim, at: 6)], shutdown: workers.shutdown),
                                        recipe: Self.recipe())
        #expect(report.shards.map(\.sha256) == undisturbed.shards.map(\.sha256))
        #expect(report.losses.map(\.worker) == [victim.address] && report.losses.allSatisfy(\.recovered), "\(report.losses)")

        let strict = try await JobWorkers.connect(.local(count: 2, threads: 1, executable: nil), configuration: Self.pool)
        let second = strict.connections[1]
        let error = await #expect(throws: (any Error).self) {
            _ = try await Self.run(JobWorkers(connections: [strict.connections[0], FaultingWorker.killing(second, at: 6)], shutdown: strict.shutdown),
                                   recipe: Self.recipe(), minWorkers: 2)
        }
        #expect("\(error!)".contains(second.address) && "\(error!)".contains("--min-workers 2"), "\(String(describing: error))")
    }

    @Test("a worker SIGKILLed and restarted on the same address mid-job is not taken back into the job; the bytes are an undisturbed run's")
    func restartedWorker() async throws {
        let undisturbed = try await Self.run(JobWorkers(connections: [SerialWorker(index: 0), SerialWorker(index: 1)], shutdown: {}), recipe: Self.recipe())
        let port = Int.random(in: 40_000..<60_000)
        let endpoints = ["127.0.0.1:\(port)", "127.0.0.1:\(port + 1)"]
        let logs = endpoints.map { NSTemporaryDirectory() + "calibrate-restart-\($0).err" }
        @Sendable func start(_ i: Int) throws -> pid_t {
            try? FileManager.default.removeItem(atPath: logs[i])
            let pid = try ChildProcesses.spawn(LocalWorkers.executableNextToThisOne(), arguments: ["--listen", "tcp://" + endpoints[i], "--threads", "1", "--exit-with-parent"],
                                               standardError: logs[i])
            try NamespaceCluster.waitFor("listening on", in: logs[i])
            return pid
        }
        var pids = try [start(0), start(1)]
        defer {
            for pid in pids { ChildProcesses.signal(pid, SIGKILL) }
            for log in logs { try? FileManager.default.removeItem(atPath: log) }
        }
        let hosts = NSTemporaryDirectory() + "calibrate-restart-\(port).hosts"
        try endpoints.joined(separator: "\n").write(toFile: hosts, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: hosts) }
        let workers = try await JobWorkers.connect(.hostsFile(hosts), configuration: Self.pool)
        let victim = pids[1]
        let restarted = Locked<pid_t?>(nil)
        let fault = FaultingWorker(inner: workers.connections[1], at: 4, fault: {
            ChildProcesses.signal(victim, SIGKILL)
            _ = ChildProcesses.hasExited(victim)
        }, afterFailure: {
            // Back on its address while the job goes on without it.
            restarted.set(try? start(1))
        })
        let report = try await Self.run(JobWorkers(connections: [workers.connections[0], fault], shutdown: workers.shutdown), recipe: Self.recipe())
        if let pid = restarted.get() { pids.append(pid) }
        #expect(restarted.get() != nil, "the worker was not restarted")
        #expect(report.shards.map(\.sha256) == undisturbed.shards.map(\.sha256))
        #expect(report.losses.map(\.worker) == [workers.connections[1].address], "\(report.losses)")
        let log = (try? String(contentsOfFile: logs[1], encoding: .utf8)) ?? ""
        #expect(log.contains("listening on") && !log.contains("session with") && !log.contains("job "), "the restarted worker was contacted: \(log)")
    }

    @Test("a SIGSTOPped (hung) worker is lost after the heartbeat timeout; resumed, what it sends late is dropped; the bytes are an undisturbed run's")
    func hungWorker() async throws {
        let undisturbed = try await Self.run(JobWorkers(connections: [SerialWorker(index: 0), SerialWorker(index: 1)], shutdown: {}), recipe: Self.recipe())
        let workers = try await JobWorkers.connect(.local(count: 2, threads: 1, executable: nil), configuration: Self.pool)
        let address = workers.connections[0].address
        let hung = FaultingWorker(inner: workers.connections[0], at: 4, fault: { FaultingWorker.signal(SIGSTOP, listeningOn: address) },
                                  afterFailure: { FaultingWorker.signal(SIGCONT, listeningOn: address) })
        let report = try await Self.run(JobWorkers(connections: [hung, workers.connections[1]], shutdown: workers.shutdown), recipe: Self.recipe())
        #expect(await hung.failed)
        #expect(report.shards.map(\.sha256) == undisturbed.shards.map(\.sha256))
        #expect(report.losses.count == 1 && report.losses[0].reason.contains("heartbeat timeout"), "\(report.losses)")
    }
}

/// Passes requests through and keeps every request–reply pair.
actor RecordingWorker: WorkerConnection {
    nonisolated let address: String
    nonisolated let capacity = 1
    private let inner: any WorkerConnection
    private(set) var exchanges: [(WorkerRequest, WorkerReply)] = []

    init(inner: any WorkerConnection) {
        self.inner = inner
        address = inner.address
    }

    func send(_ request: WorkerRequest) async throws -> WorkerReply {
        let reply = try await inner.send(request)
        exchanges.append((request, reply))
        return reply
    }

    func traffic() async -> WorkerTraffic { WorkerTraffic() }
}

/// Passes requests to a worker and, just before request number `at`, does `fault` (SIGKILL or
/// SIGSTOP its process, cut its link); when that request then fails, `afterFailure` (SIGCONT, so
/// that what the resumed process sends late reaches a coordinator that must drop it).
actor FaultingWorker: WorkerConnection {
    nonisolated let address: String
    nonisolated let capacity = 1
    private let inner: any WorkerConnection
    private var remaining: Int
    private let fault: @Sendable () throws -> Void
    private let afterFailure: (@Sendable () -> Void)?
    private(set) var failed = false

    init(inner: any WorkerConnection, at: Int, fault: @escaping @Sendable () throws -> Void, afterFailure: (@Sendable () -> Void)? = nil) {
        self.inner = inner
        address = inner.address
        remaining = at
        self.fault = fault
        self.afterFailure = afterFailure
    }

    /// SIGKILLs the local worker process before request `at`.
    static func killing(_ inner: any WorkerConnection, at: Int) -> FaultingWorker {
        let address = inner.address
        return FaultingWorker(inner: inner, at: at) { FaultingWorker.signal(SIGKILL, listeningOn: address) }
    }

    func send(_ request: WorkerRequest) async throws -> WorkerReply {
        remaining -= 1
        guard remaining == 0 else { return try await inner.send(request) }
        try fault()
        do {
            return try await inner.send(request)
        } catch {
            failed = true
            afterFailure?()
            throw error
        }
    }

    func traffic() async -> WorkerTraffic { await inner.traffic() }

    /// Sends `signal` to the worker process whose command line listens on `endpoint`.
    static func signal(_ signal: Int32, listeningOn endpoint: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        for entry in entries {
            guard let pid = Int32(entry),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let arguments = String(decoding: data, as: UTF8.self).split(separator: "\0").map(String.init)
            if arguments.contains(endpoint) && arguments.first?.hasSuffix("worker") == true {
                ChildProcesses.signal(pid, signal)
            }
        }
    }
}

/// A value behind a lock, for test closures that run on other threads.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.withLock { value } }
    func set(_ new: Value) { lock.withLock { value = new } }
}
