import Cluster
import Foundation
import Testing
import TestSupport

/// A cluster of hosts on this machine made by deploy/netns-cluster.sh: a coordinator host and
/// worker hosts (network namespaces) on one bridge, every link shaped to `rate`. Needs root and
/// iproute2; `unavailable` says why not elsewhere.
final class MultiHostCluster {
    static let script = Repository.root + "/deploy/netns-cluster.sh"

    /// Why the cluster cannot be made here, or nil when it can.
    static var unavailable: String? { NetworkNamespaces.unavailable }

    let name: String
    let workers: Int

    /// Brings up `workers` worker hosts and the coordinator's host, named `name` (1–6 letters/digits).
    init(name: String, workers: Int, rate: String) throws {
        (self.name, self.workers) = (name, workers)
        _ = try? Self.script("down", name)
        try Self.script("up", name, String(workers), rate)
    }

    /// Host `host`'s address: "c" for the coordinator's, "1"…"N" for the workers'.
    func address(_ host: String) throws -> String {
        try Self.script("address", name, host).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The command line that runs `executable arguments` on `host`.
    func command(on host: String, _ executable: String, _ arguments: [String]) -> (String, [String]) {
        ("/bin/bash", [Self.script, "exec", name, host, executable] + arguments)
    }

    /// Bytes host `host`'s network interface has received and sent, Ethernet headers included.
    func interfaceBytes(_ host: String) throws -> (received: Int, sent: Int) {
        let json = try Self.script("exec", name, host, "/usr/sbin/ip", "-s", "-j", "link", "show", "eth0")
        let links = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
        guard let stats = links?.first?["stats64"] as? [String: Any],
              let rx = (stats["rx"] as? [String: Any])?["bytes"] as? Int, let tx = (stats["tx"] as? [String: Any])?["bytes"] as? Int else {
            throw TestFailure("no byte counters for host \(host)'s eth0 in: \(json)")
        }
        return (rx, tx)
    }

    func close() { _ = try? Self.script("down", name) }

    /// Starts a `worker` (insecure, port 5555, `threads` threads) on every worker host, waits until
    /// each listens, and writes their host:port lines to `hostsFile`.
    /// - Returns: the processes (kill them when done; started ones are in it even when this throws
    ///   — appended to `processes`) and the host:port of each.
    func startWorkers(threads: Int, hostsFile: String, into processes: inout [TestProcess]) async throws -> [String] {
        var hosts: [String] = []
        for host in (1...workers).map(String.init) {
            let address = try address(host)
            let (bash, arguments) = command(on: host, Binaries.worker, ["--listen", "tcp://\(address):5555", "--insecure", "--threads", String(threads), "--exit-with-parent"])
            let worker = try TestProcess(bash, arguments)
            processes.append(worker)
            guard await worker.waitForLine(containing: "listening on ", in: \.errors) != nil else { throw TestFailure("worker on host \(host) did not start: \(worker.errors)") }
            hosts.append("\(address):5555")
        }
        try hosts.joined(separator: "\n").write(toFile: hostsFile, atomically: true, encoding: .utf8)
        return hosts
    }

    @discardableResult
    static func script(_ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script] + arguments
        let output = Pipe(), errors = Pipe()
        (process.standardOutput, process.standardError) = (output, errors)
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("netns-cluster.sh \(arguments.joined(separator: " ")): \(problems)") }
        return text
    }
}

@Suite("the main job across hosts", .serialized)
struct MultiHostTests {
    @Test("the coordinator on one host and 3 workers on three others, behind a shared 1 Gbit/s bridge (deploy/netns-cluster.sh): the bytes of a local 1-worker run; each worker's link counts what its interface carried",
          .enabled(if: MultiHostCluster.unavailable == nil, "\(MultiHostCluster.unavailable ?? "")"))
    func threeHosts() async throws {
        let base = NSTemporaryDirectory() + "calibrate-hosts-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let ids: [String] = (0..<(192 * 32)).map { (i: Int) -> String in String((i * 37 + i / 101) % 101) }
        try ("[" + ids.joined(separator: ",") + "]").write(toFile: base + "/ids.json", atomically: true, encoding: .utf8)
        func job(_ out: String) -> [String] {
            ["--model", Repository.model("llama"), "--calib", base + "/ids.json", "--out", out, "--samples", "192", "--seq-len", "32",
             "--group-size", "32", "--act-order", "--worker-threads", "1"]
        }
        let local = try TestProcess(Binaries.coordinator, job(base + "/local") + ["--local-workers", "1"])
        #expect(await local.waitForExit(timeout: 180), "\(local.errors)")
        let expected = try JoiningProcessTests.shards(base + "/local")
        #expect(!expected.isEmpty, "\(local.errors)")
        await local.stop()

        let cluster = try MultiHostCluster(name: "calmh", workers: 3, rate: "1gbit")
        defer { cluster.close() }
        var processes: [TestProcess] = []
        defer { for process in processes { process.kill(SIGKILL) } }
        let hosts = try await cluster.startWorkers(threads: 1, hostsFile: base + "/hosts.txt", into: &processes)
        let before = try (1...3).map { try cluster.interfaceBytes(String($0)) }
        let (bash, arguments) = cluster.command(on: "c", Binaries.coordinator, job(base + "/hosts") + ["--workers", base + "/hosts.txt"])
        let coordinator = try TestProcess(bash, arguments)
        processes.append(coordinator)
        #expect(await coordinator.waitForExit(timeout: 180), "\(coordinator.errors)")
        let after = try (1...3).map { try cluster.interfaceBytes(String($0)) }
        #expect(try JoiningProcessTests.shards(base + "/hosts") == expected, "\(coordinator.errors)")

        // The report's per-link counters are the job's messages; what each worker host's
        // interface carried is those plus TCP/IP/Ethernet headers (≈ 4.5 % of full 1,448-byte
        // segments), acknowledgements, the handshake and heartbeats (≈ 100 B per 0.5 s each way),
        // so it is at least the counted bytes and at most a tenth more plus 100 kB (measured: 3–5 %
        // more, and 130–230 kB counted each way per worker).
        let report = try JoiningProcessTests.report(base + "/hosts")
        let processesByAddress = Dictionary(((report["processes"] as? [[String: Any]]) ?? []).compactMap { p in (p["address"] as? String).map { ($0, p) } },
                                            uniquingKeysWith: { a, _ in a })
        for (i, host) in hosts.enumerated() {
            guard let traffic = processesByAddress.first(where: { $0.key.contains(host) })?.value["traffic"] as? [String: [String: Int]] else {
                Issue.record("no traffic in the report for worker \(host): \(processesByAddress.keys)")
                continue
            }
            let toWorker = traffic.values.reduce(0) { $0 + ($1["sent"] ?? 0) }
            let fromWorker = traffic.values.reduce(0) { $0 + ($1["received"] ?? 0) }
            let (received, sent) = (after[i].received - before[i].received, after[i].sent - before[i].sent)
            #expect(toWorker > 100_000 && fromWorker > 100_000, "worker \(host): \(traffic)")
            #expect(received >= toWorker && received <= toWorker + toWorker / 10 + 100_000, "worker \(host) received \(received) B on its interface, the report counts \(toWorker)")
            #expect(sent >= fromWorker && sent <= fromWorker + fromWorker / 10 + 100_000, "worker \(host) sent \(sent) B on its interface, the report counts \(fromWorker)")
        }
        for process in processes { await process.stop() }
    }
}
