import Cluster
import Foundation
import Testing
import TestSupport

/// Workers joining a running `coordinator quantize` from its hosts file, with real processes
/// (docs/ARCHITECTURE.md, "Joining workers"): the output is the bytes of the run without them.
@Suite("joining worker processes", .serialized)
struct JoiningProcessTests {
    /// A calibration worker process on a free port (or `listen`), once it listens.
    static func worker(listen: String = "tcp://127.0.0.1:0") async throws -> (TestProcess, endpoint: String) {
        try await TestProcess.worker(listen: listen, diagnostic: false)
    }

    /// The job: 1000 samples of 32 tokens on the 2-layer fixture, so that a layer takes long
    /// enough to act during it.
    static func command(base: String, hosts: String, out: String, _ extra: [String] = []) -> [String] {
        ["--model", Repository.model("llama"), "--calib", base + "/ids.json", "--out", out, "--samples", "1000", "--seq-len", "32",
         "--group-size", "32", "--workers", hosts, "--worker-threads", "1", "--heartbeat-interval", "0.2", "--heartbeat-timeout", "3"] + extra
    }

    static func report(_ out: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/calibrate-report.json"))) as? [String: Any] ?? [:]
    }

    static func shards(_ out: String) throws -> [String] {
        ((try report(out)["shards"] as? [[String: Any]]) ?? []).compactMap { $0["sha256"] as? String }
    }

    /// `count` workers on free ports (added to `processes`, to be killed); their endpoints.
    static func workers(_ count: Int, into processes: inout [TestProcess]) async throws -> [String] {
        var endpoints: [String] = []
        for _ in 0..<count {
            let (process, endpoint) = try await worker()
            processes.append(process)
            endpoints.append(endpoint)
        }
        return endpoints
    }

    static func prepare() throws -> String {
        let base = NSTemporaryDirectory() + "calibrate-join-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        let ids: [String] = (0..<(1000 * 32)).map { (i: Int) -> String in String((i * 37 + i / 101) % 101) }
        try ("[" + ids.joined(separator: ",") + "]").write(toFile: base + "/ids.json", atomically: true, encoding: .utf8)
        return base
    }

    /// Three workers on free ports (added to `processes`), a hosts file listing the first two, and
    /// the shards of the job run on those two: the bytes every run of these tests must write.
    static func reference(base: String, into processes: inout [TestProcess]) async throws -> (endpoints: [String], listed: [String], hosts: String, expected: [String]) {
        let endpoints = try await Self.workers(3, into: &processes)
        let hosts = base + "/hosts.txt"
        let listed = endpoints.map { $0.replacingOccurrences(of: "tcp://", with: "") }
        try listed[0..<2].joined(separator: "\n").write(toFile: hosts, atomically: true, encoding: .utf8)
        let reference = try TestProcess(Binaries.coordinator, Self.command(base: base, hosts: hosts, out: base + "/reference"))
        processes.append(reference)
        #expect(await reference.waitForExit(timeout: 120))
        let expected = try Self.shards(base + "/reference")
        #expect(!expected.isEmpty, "\(reference.errors)")
        return (endpoints, listed, hosts, expected)
    }

    @Test("a worker added to the hosts file mid-job joins at the next layer and takes its share; the bytes are those of the 2 workers alone",
          arguments: ["move", "replay"])
    func addedToHostsFile(transfer: String) async throws {
        let base = try Self.prepare()
        defer { try? FileManager.default.removeItem(atPath: base) }
        var processes: [TestProcess] = []
        defer { for process in processes { process.kill(SIGKILL) } }
        let (endpoints, listed, hosts, expected) = try await Self.reference(base: base, into: &processes)

        let grown = try TestProcess(Binaries.coordinator, Self.command(base: base, hosts: hosts, out: base + "/grown", ["--join-transfer", transfer]))
        processes.append(grown)
        guard await grown.waitForLine(containing: "layer 1/2 capture", in: \.errors, timeout: 60) != nil else {
            throw TestFailure("the job did not reach layer 1: \(grown.errors)")
        }
        // Held still while the file changes, so that a layer boundary is certainly left.
        grown.kill(SIGSTOP)
        try listed.joined(separator: "\n").write(toFile: hosts, atomically: true, encoding: .utf8)
        grown.kill(SIGCONT)
        #expect(await grown.waitForExit(timeout: 120))
        #expect(try Self.shards(base + "/grown") == expected, "\(grown.errors)")
        let joins = (try Self.report(base + "/grown")["joins"] as? [[String: Any]]) ?? []
        #expect(joins.count == 1, "\(grown.errors)")
        #expect(joins.first?["worker"] as? String == endpoints[2])
        #expect(joins.first?["layer"] as? Int == 1)
        #expect(joins.first?["transfer"] as? String == transfer)
        #expect((joins.first?["samples"] as? Int ?? 0) > 0)
        #expect(grown.output.contains("joined \(endpoints[2]) at layer 1"), "\(grown.output)")
        let processesReport = (try Self.report(base + "/grown")["processes"] as? [[String: Any]]) ?? []
        let samples = processesReport.filter { $0["role"] as? String == "worker" }.compactMap { $0["samples"] as? Int }
        #expect(samples.count == 3 && samples.reduce(0, +) == 1000, "\(samples)")
    }

    @Test("a worker removed from the hosts file mid-job hands its samples to the others and leaves the job, its process still serving; the bytes are an undisturbed run's",
          arguments: ["move", "replay"])
    func removedFromHostsFile(transfer: String) async throws {
        let base = try Self.prepare()
        defer { try? FileManager.default.removeItem(atPath: base) }
        var processes: [TestProcess] = []
        defer { for process in processes { process.kill(SIGKILL) } }
        let (endpoints, listed, hosts, expected) = try await Self.reference(base: base, into: &processes)

        try listed.joined(separator: "\n").write(toFile: hosts, atomically: true, encoding: .utf8)
        let shrunk = try TestProcess(Binaries.coordinator, Self.command(base: base, hosts: hosts, out: base + "/shrunk", ["--join-transfer", transfer]))
        processes.append(shrunk)
        guard await shrunk.waitForLine(containing: "layer 1/2 capture", in: \.errors, timeout: 60) != nil else {
            throw TestFailure("the job did not reach layer 1: \(shrunk.errors)")
        }
        shrunk.kill(SIGSTOP)
        try [listed[0], listed[1]].joined(separator: "\n").write(toFile: hosts, atomically: true, encoding: .utf8)
        shrunk.kill(SIGCONT)
        #expect(await shrunk.waitForExit(timeout: 120))
        #expect(try Self.shards(base + "/shrunk") == expected, "\(shrunk.errors)")
        let report = try Self.report(base + "/shrunk")
        let departures = (report["departures"] as? [[String: Any]]) ?? []
        #expect(departures.map { $0["worker"] as? String } == [endpoints[2]], "\(shrunk.errors)")
        #expect(departures.first?["layer"] as? Int == 1)
        #expect(departures.first?["transfer"] as? String == transfer)
        #expect((departures.first?["samples"] as? Int ?? 0) > 0, "\(departures)")
        #expect(((report["losses"] as? [[String: Any]]) ?? []).isEmpty, "\(shrunk.errors)")
        #expect(shrunk.output.contains("\(endpoints[2]) left at layer 1"), "\(shrunk.output)")
        let roles = ((report["processes"] as? [[String: Any]]) ?? []).compactMap { $0["role"] as? String }
        #expect(roles.filter { $0 == "worker" }.count == 2 && roles.contains("worker (left)"), "\(roles)")
        // Let go, not lost: its session ended by the coordinator, the process still serving.
        #expect(processes[2].errors.contains("left the job at layer 1"), "\(processes[2].errors)")
        #expect(!ChildProcesses.hasExited(processes[2].pid))
    }

    @Test("a worker SIGKILLed and restarted on its address during the job's start or a capture is lost, then taken back as a new worker after SIGHUP (the hosts file unchanged); the bytes are an undisturbed run's",
          arguments: ["start", "capture"])
    func restartedAndHangup(phase: String) async throws {
        let base = try Self.prepare()
        defer { try? FileManager.default.removeItem(atPath: base) }
        var processes: [TestProcess] = []
        defer { for process in processes { process.kill(SIGKILL) } }
        let endpoints = try await Self.workers(3, into: &processes)
        let hosts = base + "/hosts.txt"
        try endpoints.map { $0.replacingOccurrences(of: "tcp://", with: "") }.joined(separator: "\n").write(toFile: hosts, atomically: true, encoding: .utf8)
        let reference = try TestProcess(Binaries.coordinator, Self.command(base: base, hosts: hosts, out: base + "/reference"))
        processes.append(reference)
        #expect(await reference.waitForExit(timeout: 120))
        let expected = try Self.shards(base + "/reference")
        #expect(!expected.isEmpty, "\(reference.errors)")

        let job = try TestProcess(Binaries.coordinator, Self.command(base: base, hosts: hosts, out: base + "/out"))
        processes.append(job)
        guard await job.waitForLine(containing: "layer 1/2 \(phase)", in: \.errors, timeout: 60) != nil else {
            throw TestFailure("the job did not reach layer 1: \(job.errors)")
        }
        processes[2].kill(SIGKILL)
        #expect(await processes[2].waitForExit(timeout: 10))
        let (restarted, endpoint) = try await Self.worker(listen: endpoints[2])
        processes.append(restarted)
        #expect(endpoint == endpoints[2])
        // The restarted worker gets the old session's request (ZeroMQ reconnects) and refuses it,
        // which loses the old one at once (start), or the loss is noticed after 3 s without a reply
        // (capture); either way a layer boundary follows where the hosts file is read again.
        job.kill(SIGHUP)
        #expect(await job.waitForExit(timeout: 120))
        guard FileManager.default.fileExists(atPath: base + "/out/calibrate-report.json") else {
            throw TestFailure("the job failed: \(job.errors)\nrestarted worker: \(restarted.errors)")
        }
        #expect(try Self.shards(base + "/out") == expected, "\(job.errors)")
        let report = try Self.report(base + "/out")
        let losses = (report["losses"] as? [[String: Any]]) ?? []
        let joins = (report["joins"] as? [[String: Any]]) ?? []
        #expect(losses.map { $0["worker"] as? String } == [endpoints[2]], "\(job.errors)")
        #expect(joins.map { $0["worker"] as? String } == [endpoints[2]], "\(job.errors)")
        #expect((joins.first?["samples"] as? Int ?? 0) > 0, "\(joins)")
        #expect(restarted.errors.contains("job "), "the restarted worker was not given the job: \(restarted.errors)")
    }
}
