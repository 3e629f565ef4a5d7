import Cluster
import Foundation
import Testing
import TestSupport

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
