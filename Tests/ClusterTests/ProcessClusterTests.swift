import Cluster
import JobProtocol
import Foundation
import Tensors
import Testing
import Transport
import Wire
import TestSupport

/// The coordinator's pool against real `worker` processes over tcp loopback and ipc.
@Suite("Cluster over real processes", .serialized)
struct ProcessClusterTests {
    static func pool(interval: Int = 100, timeout: Int = 4000, version: UInt32 = WireProtocol.version, logs: LogLines = LogLines()) throws -> WorkerPool {
        WorkerPool(transport: try ZMQTransport(), configuration: fastPool(interval: interval, timeout: timeout, version: version), log: logs.log)
    }

    @Test("handshake and a 4 MiB echo over tcp and ipc", arguments: ["tcp://127.0.0.1:0", "ipc://" + NSTemporaryDirectory() + "calibrate-test-\(getpid()).sock"])
    func handshake(_ listen: String) async throws {
        let (worker, endpoint) = try await TestProcess.worker(listen: listen)
        let pool = try Self.pool()
        let info = try await pool.connect(to: endpoint)
        #expect(info.capabilities.pid == Int(worker.pid))
        #expect(info.capabilities.threads == 1)
        #expect(info.workerDescription == endpoint)
        let payload = NamedTensor("payload", Tensor(floats: (0..<(1 << 20)).map { Float($0 % 1000) }, shape: [1 << 20]))
        let reply = try await pool.request(.echo(Echo(note: "big")), tensors: [payload], to: info.id)
        #expect(reply.message.tensors.first?.checksum == payload.checksum)
        #expect(reply.message.tensors.first?.tensor.floats() == payload.tensor.floats())
        await pool.shutdown(reason: "test done", exitProcesses: true)
        #expect(await worker.waitForExit(), "Shutdown(exitProcess) did not end the worker")
        #expect(worker.errors.contains("shutdown requested by test coordinator"))
        await worker.stop()
    }

    @Test("a worker of another protocol version refuses the handshake, naming both versions, and keeps running")
    func versionMismatch() async throws {
        let (worker, endpoint) = try await TestProcess.worker(["--protocol-version", "99"])
        let pool = try Self.pool()
        do {
            _ = try await pool.connect(to: endpoint)
            Issue.record("the handshake succeeded")
        } catch let error as ClusterError {
            #expect(error.code == .versionMismatch)
            #expect(error.message.contains("version 99") && error.message.contains("version \(WireProtocol.version)"), "\(error.message)")
        }
        #expect(worker.errors.contains("a Hello of protocol version \(WireProtocol.version) (this worker speaks 99)"))
        #expect(!ChildProcesses.hasExited(worker.pid))
        await pool.shutdown(reason: "done", exitProcesses: false)
        await worker.stop()
    }

    // The defaults, 1 s beats and a 10 s timeout: with 1.5 s and 4 s timeouts the healthy
    // survivor was lost under the whole suite on 2 cores; with 100 ms beats the pool's ticks ran
    // ≈ 300 ms apart, each late one forgiven (silence measured in time the pool could listen), and
    // the loss took over 30 s.
    @Test("a worker killed with SIGKILL is reported lost, with its address, after the heartbeat timeout")
    func killedWorker() async throws {
        let (worker, endpoint) = try await TestProcess.worker()
        let (survivor, survivorEndpoint) = try await TestProcess.worker()
        let pool = try Self.pool(interval: 1000, timeout: 10000)
        let events = Collector(pool.events)
        let info = try await pool.connect(to: endpoint)
        let other = try await pool.connect(to: survivorEndpoint)
        _ = try await pool.request(start("j"), to: info.id, jobID: "j")
        let pending = Task { try await pool.request(.evaluate(Evaluate(kind: "sleep", parameters: [60])), to: info.id, jobID: "j") }
        try await Task.sleep(for: .milliseconds(300))
        let killed = ContinuousClock.now
        worker.kill(SIGKILL)
        let lost = await events.first(timeout: 60) { if case .lost = $0 { true } else { false } }
        guard case .lost(let id, let lostEndpoint, let reason)? = lost else {
            Issue.record("no loss reported")
            return
        }
        let after = ContinuousClock.now - killed
        #expect(id == info.id && lostEndpoint == endpoint)
        #expect(reason.contains("heartbeat timeout 10.0 s"), "\(reason)")
        // Silence counts from the worker's last heartbeat, up to one interval (1 s) before the kill.
        #expect(after >= .milliseconds(8900), "lost after \(after), before the timeout")
        do {
            _ = try await pending.value
            Issue.record("the pending request succeeded")
        } catch let error as ClusterError {
            #expect(error.code == .workerLost)
            #expect(error.message.contains(endpoint))
        }
        // The other worker carries on.
        let echo = try await pool.request(.echo(Echo(note: "alive")), to: other.id)
        #expect(echo.message.body == .echo(Echo(note: "alive")))
        await pool.shutdown(reason: "done", exitProcesses: true)
        await worker.stop()
        await survivor.stop()
    }

    @Test("three hundred random and mutated envelopes never crash a worker, which drops each sender and keeps serving")
    func fuzzWorker() async throws {
        let (worker, endpoint) = try await TestProcess.worker()
        let client = try ZMQTransport()
        var generator = SplitMix64(seed: 2024)
        // One connection per message: the worker drops a sender after its first bad message.
        for _ in 0..<300 {
            let peer = try await client.connect(to: endpoint)
            try client.send(Garbage.frames(&generator), to: peer)
        }
        // Each message ends in one log line: dropped, refused as busy, or (a Hello that survived) a session.
        func handled() -> Int {
            worker.errors.split(separator: "\n").filter { $0.contains("dropping") || $0.contains("refused") || $0.contains("session with") }.count
        }
        for _ in 0..<1000 where handled() < 300 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(handled() >= 300, "\(handled()) of 300 messages handled")
        #expect(!ChildProcesses.hasExited(worker.pid), "the worker died: \(worker.errors.suffix(2000))")
        await client.close()
        // A proper coordinator still gets in (a mutated Hello may hold a session for its 40 ms timeout).
        var info: WorkerInfo?
        for _ in 0..<20 where info == nil {
            let pool = try Self.pool()
            info = try? await pool.connect(to: endpoint)
            if let info {
                #expect(try await pool.request(.echo(Echo(note: "ok")), to: info.id).message.body == .echo(Echo(note: "ok")))
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
            await pool.shutdown(reason: "done", exitProcesses: false)
        }
        #expect(info != nil, "no handshake after the fuzzing: \(worker.errors.suffix(2000))")
        await worker.stop()
    }

    @Test("a hundred fake workers answering with garbage over tcp are dropped; the coordinator and a real worker carry on")
    func fuzzCoordinator() async throws {
        let (worker, endpoint) = try await TestProcess.worker()
        let fake = try ZMQTransport()
        let fakeEndpoint = try await fake.listen(on: "tcp://127.0.0.1:0")
        let fakeTask = Task {
            var generator = SplitMix64(seed: 7)
            var welcomed = Set<PeerID>()
            for await inbound in fake.inbound {
                if !welcomed.contains(inbound.peer) {
                    welcomed.insert(inbound.peer)
                    try? fake.send(WireCodec.encode(Message(.welcome(Welcome(capabilities: .local(threads: 1), worker: "fake")))), to: inbound.peer)
                } else {
                    try? fake.send(Garbage.frames(&generator), to: inbound.peer)
                }
            }
        }
        let pool = try Self.pool(interval: 10, timeout: 5000)
        let events = Collector(pool.events)
        let real = try await pool.connect(to: endpoint)
        for round in 0..<100 {
            let info = try await pool.connect(to: fakeEndpoint)
            let lost = await events.first(timeout: 10) { if case .lost(let id, _, _) = $0 { id == info.id } else { false } }
            #expect(lost != nil, "round \(round): the fake worker was not dropped")
        }
        _ = try await pool.request(start("fuzz"), to: real.id, jobID: "fuzz")
        let reply = try await pool.request(.evaluate(Evaluate(kind: "sum")), tensors: [NamedTensor("x", floats([1, 2, 3]))], to: real.id, jobID: "fuzz")
        #expect(reply.message.body == .evaluated(Evaluated(kind: "sum", values: [6])))
        await pool.shutdown(reason: "done", exitProcesses: true)
        await fake.close()
        fakeTask.cancel()
        await worker.stop()
    }

    @Test("local workers start next to the test binary, serve, and stop without leaving processes")
    func localWorkers() async throws {
        try Binaries.require(Binaries.worker)
        let local = try LocalWorkers(count: 2, threads: 1)
        let pool = try Self.pool()
        let infos = await pool.connect(to: local.endpoints)
        let pids = try infos.map { try $0.get().capabilities.pid }
        #expect(Set(pids) == Set(local.processIDs.map(Int.init)))
        await pool.shutdown(reason: "done", exitProcesses: true)
        local.stop()
        #expect(local.allExited)
        for endpoint in local.endpoints {
            #expect(!FileManager.default.fileExists(atPath: String(endpoint.dropFirst("ipc://".count))), "socket file left: \(endpoint)")
        }
    }

    @Test("a local worker process that exits is lost at once, naming its pid, not after the 10 s heartbeat timeout; the other serves on")
    func localWorkerExits() async throws {
        try Binaries.require(Binaries.worker)
        let cluster = try await WorkerCluster.start(.local(count: 2, threads: 1, executable: nil), configuration: PoolConfiguration(), log: .silent)
        let events = Collector(cluster.pool.events)
        let victim = try #require(cluster.localWorkers?.processIDs.first)
        let killed = ContinuousClock.now
        kill(victim, SIGKILL)
        let lost = await events.first(timeout: 8) { if case .lost = $0 { true } else { false } }
        guard case .lost(let id, _, let reason)? = lost else {
            Issue.record("no loss reported within 8 s")
            await cluster.shutdown(reason: "done")
            return
        }
        #expect(ContinuousClock.now - killed < .seconds(8))
        #expect(id == cluster.workers[0].id && reason.contains("pid \(victim)") && reason.contains("exited"), "\(reason)")
        let echo = try await cluster.pool.request(.echo(Echo(note: "alive")), to: cluster.workers[1].id)
        #expect(echo.message.body == .echo(Echo(note: "alive")))
        await cluster.shutdown(reason: "done")
    }

    @Test("SIGTERM to `coordinator ping --local-workers 2` stops it and its workers; SIGKILL leaves no worker behind either", arguments: [SIGTERM, SIGKILL])
    func coordinatorSignals(_ signal: Int32) async throws {
        try Binaries.require(Binaries.worker)
        let coordinator = try TestProcess(Binaries.coordinator, ["ping", "--local-workers", "2", "--worker-threads", "1", "--duration", "120"])
        guard await coordinator.waitForLine(containing: "worker 1 echo") != nil else {
            coordinator.kill(SIGKILL)
            throw TestFailure("ping did not start: \(coordinator.output)\n\(coordinator.errors)")
        }
        let pids = coordinator.output.split(separator: "\n").filter { $0.contains(" pid ") }.compactMap { line -> Int32? in
            let words = line.split(separator: " ").map(String.init)
            guard let index = words.firstIndex(of: "pid"), index + 1 < words.count else { return nil }
            return Int32(words[index + 1].filter(\.isNumber))
        }
        #expect(pids.count == 2, "\(coordinator.output)")
        coordinator.kill(signal)
        #expect(await coordinator.waitForExit(timeout: 15), "the coordinator did not exit")
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline && !pids.allSatisfy(processIsGone) { try await Task.sleep(for: .milliseconds(20)) }
        for pid in pids { #expect(processIsGone(pid), "worker \(pid) outlived the coordinator (signal \(signal))") }
        if signal == SIGTERM { #expect(coordinator.errors.contains("signal 15: shutting down")) }
        await coordinator.stop()
    }

    @Test("SIGTERM to the main job with --local-workers 2 stops it and its workers mid-job; the output never looks complete")
    func quantizeSignal() async throws {
        try Binaries.require(Binaries.worker)
        let model = Repository.model("llama")
        let base = NSTemporaryDirectory() + "calibrate-signal-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        // 8000 samples of 32 tokens: seconds of work even on the 2-layer fixture model, so the
        // signal lands mid-job.
        let ids: [String] = (0..<(8000 * 32)).map { (i: Int) -> String in String((i * 37 + i / 101) % 101) }
        try ("[" + ids.joined(separator: ",") + "]").write(toFile: base + "/ids.json", atomically: true, encoding: .utf8)
        let out = base + "/out"
        let coordinator = try TestProcess(Binaries.coordinator, ["--model", model, "--calib", base + "/ids.json", "--out", out, "--samples", "8000",
                                                                 "--seq-len", "32", "--group-size", "32", "--local-workers", "2", "--worker-threads", "1"])
        guard await coordinator.waitForLine(containing: "calibrate: gptq", in: \.errors, timeout: 60) != nil else {
            coordinator.kill(SIGKILL)
            throw TestFailure("the job did not start: \(coordinator.errors)")
        }
        coordinator.kill(SIGTERM)
        #expect(await coordinator.waitForExit(timeout: 15), "the coordinator did not exit")
        #expect(coordinator.errors.contains("signal 15: stopping the workers"), "\(coordinator.errors)")
        #expect(!coordinator.errors.contains("wrote "), "the job finished before the signal: make it longer")
        // The local workers listen on sockets named after the coordinator's pid: none may be left,
        // nor any process started with one.
        let tag = "calibrate-worker-\(coordinator.pid)-"
        let deadline = ContinuousClock.now + .seconds(10)
        func leftovers() -> [String] {
            let sockets = ((try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())) ?? []).filter { $0.hasPrefix(tag) }
            let processes = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { entry in
                guard Int32(entry) != nil, let command = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline")) else { return false }
                return String(decoding: command, as: UTF8.self).contains(tag) && !processIsGone(Int32(entry)!)
            }
            return sockets + processes.map { "process \($0)" }
        }
        while ContinuousClock.now < deadline && !leftovers().isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        #expect(leftovers().isEmpty, "left behind: \(leftovers())")
        for file in ["config.json", "model.safetensors.index.json"] {
            #expect(!FileManager.default.fileExists(atPath: out + "/" + file), "\(file) written by an interrupted job")
        }
        await coordinator.stop()
    }

    @Test("SIGKILL of the coordinator mid-job, then the same command with --resume: the shards of an uninterrupted run")
    func resumeAfterKill() async throws {
        try Binaries.require(Binaries.worker)
        let base = NSTemporaryDirectory() + "calibrate-resume-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        let ids: [String] = (0..<(1000 * 32)).map { (i: Int) -> String in String((i * 37 + i / 101) % 101) }
        try ("[" + ids.joined(separator: ",") + "]").write(toFile: base + "/ids.json", atomically: true, encoding: .utf8)
        func command(_ out: String) -> [String] {
            ["--model", Repository.model("llama"), "--calib", base + "/ids.json", "--out", out, "--samples", "1000", "--seq-len", "32",
             "--group-size", "32", "--max-shard-size", "24000", "--local-workers", "2", "--worker-threads", "1"]
        }
        func shards(_ out: String) throws -> [String] {
            let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/calibrate-report.json"))) as? [String: Any]
            return ((report?["shards"] as? [[String: Any]]) ?? []).compactMap { $0["sha256"] as? String }
        }
        let reference = try TestProcess(Binaries.coordinator, command(base + "/reference"))
        #expect(await reference.waitForExit(timeout: 120))
        let expected = try shards(base + "/reference")
        #expect(expected.count > 2, "\(expected)")

        let killed = try TestProcess(Binaries.coordinator, command(base + "/out"))
        guard await killed.waitForLine(containing: "layer 2/2 capture", in: \.errors, timeout: 120) != nil else {
            killed.kill(SIGKILL)
            throw TestFailure("the job did not reach layer 2: \(killed.errors)")
        }
        killed.kill(SIGKILL)
        #expect(await killed.waitForExit(timeout: 15))
        #expect(!FileManager.default.fileExists(atPath: base + "/out/model.safetensors.index.json"), "the job finished before the kill")
        let resumed = try TestProcess(Binaries.coordinator, command(base + "/out") + ["--resume"])
        #expect(await resumed.waitForExit(timeout: 120))
        #expect(resumed.errors.contains("resuming"), "\(resumed.errors)")
        #expect(try shards(base + "/out") == expected)
        // Resuming the finished checkpoint is refused, with a non-zero status.
        let again = try TestProcess(Binaries.coordinator, command(base + "/out") + ["--resume"])
        #expect(await again.waitForExit(timeout: 60))
        #expect(again.errors.contains("Error:") && again.errors.contains("nothing to resume"), "\(again.errors)")
        await killed.stop()
        await resumed.stop()
        await again.stop()
    }
}
