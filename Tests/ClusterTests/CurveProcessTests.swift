import Cluster
import Foundation
import Tensors
import Testing
import TestSupport
import Transport
import Wire

/// Workers and coordinators with CURVE keys, as real processes (docs/ARCHITECTURE.md,
/// "Authentication"): keys from `coordinator keygen`, a worker with `--key --allow`, the
/// coordinator with `--key` and the worker's key in its hosts file.
@Suite("CURVE between real processes", .serialized)
struct CurveProcessTests {
    /// A directory with key pairs `coordinator`, `worker` and `stranger` made by `coordinator keygen`.
    static func keys() async throws -> String {
        let dir = NSTemporaryDirectory() + "calibrate-curve-\(UUID().uuidString)"
        for name in ["coordinator", "worker", "stranger"] {
            let keygen = try TestProcess(Binaries.coordinator, ["keygen", "--out", dir, "--name", name])
            #expect(await keygen.termination() == .exited(0), "\(keygen.errors)")
            #expect(keygen.output.contains("wrote \(dir)/\(name).key (secret, mode 0600)"), "\(keygen.output)")
        }
        let again = try TestProcess(Binaries.coordinator, ["keygen", "--out", dir, "--name", "worker"])
        #expect(await again.termination() == .exited(1))
        #expect(again.errors.contains("worker.key exists"), "\(again.errors)")
        return dir
    }

    /// `coordinator ping` on `hosts`, once it has ended; exit 0 when every worker answered.
    static func ping(_ hosts: String, _ extra: [String], succeeds: Bool = false) async throws -> TestProcess {
        let ping = try TestProcess(Binaries.coordinator, ["ping", "--workers", hosts, "--rounds", "2", "--handshake-timeout", "3"] + extra)
        let ended = await ping.termination()
        #expect((ended == .exited(0)) == succeeds, "ping ended \(String(describing: ended)): \(ping.output)\n\(ping.errors)")
        return ping
    }

    @Test("only the coordinator whose key the worker allows, and that knows the worker's key, gets a session; a stranger is refused and logged, and the worker keeps serving")
    func authenticated() async throws {
        let dir = try await Self.keys()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (worker, endpoint) = try await TestProcess.worker(diagnostic: true, ["--key", dir + "/worker.key", "--allow", dir + "/coordinator.pub"])
        defer { worker.end() }
        let address = String(endpoint.dropFirst("tcp://".count))
        let workerKey = try CurveKeyFiles.publicKey(at: dir + "/worker.pub")
        // keys=DIR: the worker's key as DIR/HOST.pub, DIR relative to the hosts file.
        try FileManager.default.createDirectory(atPath: dir + "/hosts-keys", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir + "/worker.pub", toPath: dir + "/hosts-keys/127.0.0.1.pub")
        let hosts = dir + "/hosts.txt"
        try "\(address) keys=hosts-keys\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        #expect(try HostsFile.load(path: hosts).map(\.serverKey) == [workerKey])

        let stranger = try await Self.ping(hosts, ["--key", dir + "/stranger.key"])
        #expect(stranger.output.contains("does it hold the secret key"), "\(stranger.output)")
        let strangerKey = try CurveKeyFiles.publicKey(at: dir + "/stranger.pub")
        #expect(worker.errors.contains("refused a connection from 127.0.0.1") && worker.errors.contains(strangerKey), "\(worker.errors)")
        #expect(!worker.errors.contains("session with"), "a stranger got a session: \(worker.errors)")

        let keyless = try await Self.ping(hosts, [])
        #expect(keyless.errors.contains("has a key, and this coordinator none: give --key"), "\(keyless.errors)")
        try "\(address) key=\(try CurveKeyFiles.publicKey(at: dir + "/stranger.pub"))\n".write(toFile: hosts + ".impostor", atomically: true, encoding: .utf8)
        // The coordinator expects another worker key there: the worker cannot prove it holds it.
        let impostor = try await Self.ping(hosts + ".impostor", ["--key", dir + "/coordinator.key"])
        #expect(!impostor.output.contains("pid \(worker.pid)") && impostor.output.contains("does it hold the secret key"), "\(impostor.output)\n\(impostor.errors)")
        #expect(!worker.errors.contains("session with"), "\(worker.errors)")

        let right = try await Self.ping(hosts, ["--key", dir + "/coordinator.key"], succeeds: true)
        #expect(right.output.contains("pid \(worker.pid)"), "\(right.output)\n\(right.errors)")
        #expect(worker.errors.contains("session with"), "\(worker.errors)")
        #expect(!worker.errors.contains("not authenticated"))
    }

    @Test("garbage after a valid handshake drops the connection before anything reaches the codec; a replayed connection never completes its handshake; the worker serves the right coordinator after")
    func tamperedAndReplayed() async throws {
        let dir = try await Self.keys()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (worker, endpoint) = try await TestProcess.worker(diagnostic: true, ["--key", dir + "/worker.key", "--allow", dir + "/coordinator.pub"])
        defer { worker.end() }
        let port = try #require(endpoint.split(separator: ":").last.flatMap { UInt16($0) })
        let workerKey = try CurveKeyFiles.publicKey(at: dir + "/worker.pub")
        let keys = try CurveKeyFiles.keyPair(at: dir + "/coordinator.key")
        let sessions = { worker.errors.components(separatedBy: "heartbeat every").count - 1 }

        // Through the proxy: a session, then a byte of the 64 KiB echo's stream flipped (the
        // handshake and the Hello take about 700 bytes; byte 4000 is inside the echo).
        let proxy = try TamperingProxy(to: port, tamperAt: 4000)
        defer { proxy.close() }
        let pool = WorkerPool(transport: try ZMQTransport(configuration: .init(curve: CurveSettings(keys: keys))),
                              configuration: PoolConfiguration(heartbeatInterval: .milliseconds(200), heartbeatTimeout: .seconds(3), handshakeTimeout: .seconds(10), keys: keys),
                              log: .standardError(label: "tampered coordinator"))
        let info = try await pool.connect(to: "tcp://127.0.0.1:\(proxy.port)", serverKey: workerKey)
        #expect(sessions() == 1)
        let payload = NamedTensor("payload", Tensor(floats: (0..<16384).map { Float($0) }, shape: [16384]))
        do {
            _ = try await pool.request(.echo(Echo(note: "tampered")), tensors: [payload], to: info.id)
            Issue.record("a tampered echo was answered")
        } catch {}
        #expect(proxy.tampered)
        await pool.shutdown(reason: "done", exitProcesses: false)
        // libzmq's CURVE check dropped the connection: nothing of it reached the codec.
        #expect(!worker.errors.contains("invalid message") && !worker.errors.contains("refusing task"), "\(worker.errors)")

        // The first connection's bytes again, on a new connection: the worker's cookie differs,
        // so the replayed INITIATE fails and the worker closes the connection; no session.
        let recorded = try #require(proxy.recorded.first)
        #expect(recorded.count > 4000)
        #expect(proxy.replay(recorded), "the worker kept a replayed connection open")
        #expect(sessions() == 1, "\(worker.errors)")

        // The right coordinator, directly, once the tampered session has fallen silent.
        for _ in 0..<200 where !worker.errors.contains("ended") { try await Task.sleep(for: .milliseconds(50)) }
        let hosts = dir + "/hosts.txt"
        try "127.0.0.1:\(port) key=\(workerKey)\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        let right = try await Self.ping(hosts, ["--key", dir + "/coordinator.key"], succeeds: true)
        #expect(right.output.contains("pid \(worker.pid)"), "\(right.output)\n\(right.errors)")
        #expect(sessions() == 2, "\(worker.errors)")
    }

    @Test("a worker on a non-loopback address without --key refuses to start unless --insecure, which warns at every session")
    func insecure() async throws {
        let refused = try TestProcess(Binaries.worker, ["--listen", "tcp://0.0.0.0:0"])
        #expect(await refused.termination() != .exited(0))
        #expect(refused.errors.contains("reachable from other machines") && refused.errors.contains("--insecure"), "\(refused.errors)")
        let keyWithoutAllow = try TestProcess(Binaries.worker, ["--listen", "tcp://127.0.0.1:0", "--key", "/nonexistent.key"])
        #expect(await keyWithoutAllow.termination() != .exited(0))
        #expect(keyWithoutAllow.errors.contains("--key needs --allow"), "\(keyWithoutAllow.errors)")

        let (worker, endpoint) = try await TestProcess.worker(listen: "tcp://0.0.0.0:0", diagnostic: true, ["--insecure"])
        defer { worker.end() }
        let port = endpoint.split(separator: ":").last.map(String.init) ?? ""
        let hosts = NSTemporaryDirectory() + "calibrate-insecure-\(UUID().uuidString).hosts"
        defer { try? FileManager.default.removeItem(atPath: hosts) }
        try "127.0.0.1:\(port)\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        let ping = try await Self.ping(hosts, [], succeeds: true)
        #expect(ping.output.contains("pid \(worker.pid)"), "\(ping.output)\n\(ping.errors)")
        #expect(worker.errors.contains("is not authenticated (--insecure)"), "\(worker.errors)")
    }
}
