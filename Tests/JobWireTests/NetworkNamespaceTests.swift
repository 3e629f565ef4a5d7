import Cluster
import CoordinatorCore
import Foundation
import JobProtocol
import RemoteWorkers
import Testing
import WorkerCore

/// Three worker processes, each in a network namespace of its own behind a veth link shaped to
/// 1 Gbit/s (tc tbf), the coordinator in this process: real TCP between separate network stacks.
/// Needs root and iproute2 (these machines and CI have both); skipped, saying why, elsewhere.
final class NamespaceCluster {
    static let ip = "/usr/sbin/ip"
    static let tc = "/usr/sbin/tc"

    /// Why the test cannot run here, or nil when it can (a namespace can be made and removed).
    static let unavailable: String? = {
        guard getuid() == 0 else { return "needs root for ip netns" }
        guard FileManager.default.isExecutableFile(atPath: ip), FileManager.default.isExecutableFile(atPath: tc) else { return "needs iproute2 (ip, tc)" }
        let probe = "calprobe\(getpid() % 100_000)"
        guard (try? run(ip, "netns", "add", probe)) != nil else { return "ip netns add fails here (no CAP_SYS_ADMIN / CAP_NET_ADMIN?)" }
        try? run(ip, "netns", "del", probe)
        return nil
    }()

    let tag = String(getpid() % 100_000)
    let count: Int
    private(set) var pids: [pid_t] = []
    private(set) var endpoints: [String] = []

    init(workers count: Int) throws {
        self.count = count
        do {
            for i in 0..<count {
                let (namespace, outside, inside) = names(i)
                try Self.run(Self.ip, "netns", "add", namespace)
                try Self.run(Self.ip, "link", "add", outside, "type", "veth", "peer", "name", inside)
                try Self.run(Self.ip, "link", "set", inside, "netns", namespace)
                try Self.run(Self.ip, "addr", "add", "10.213.\(i).1/24", "dev", outside)
                try Self.run(Self.ip, "link", "set", outside, "up")
                try Self.run(Self.ip, "netns", "exec", namespace, Self.ip, "addr", "add", "10.213.\(i).2/24", "dev", inside)
                try Self.run(Self.ip, "netns", "exec", namespace, Self.ip, "link", "set", inside, "up")
                try Self.run(Self.ip, "netns", "exec", namespace, Self.ip, "link", "set", "lo", "up")
                try Self.run(Self.tc, "qdisc", "add", "dev", outside, "root", "tbf", "rate", "1gbit", "burst", "64kb", "latency", "50ms")
                let log = NSTemporaryDirectory() + "calibrate-netns-\(tag)-\(i).err"
                let pid = try ChildProcesses.spawn(Self.ip, arguments: ["netns", "exec", namespace, LocalWorkers.executableNextToThisOne(),
                                                                          "--listen", "tcp://10.213.\(i).2:5555", "--threads", "1"], standardError: log)
                pids.append(pid)
                endpoints.append("10.213.\(i).2:5555")
                try Self.waitFor("listening on", in: log)
            }
        } catch {
            close()
            throw error
        }
    }

    /// The namespace and the two ends of worker `i`'s link (interface names fit in 15 bytes).
    func names(_ i: Int) -> (namespace: String, outside: String, inside: String) {
        ("calw\(tag)-\(i)", "cvo\(tag)\(i)", "cvi\(tag)\(i)")
    }

    func hostsFile() throws -> String {
        let path = NSTemporaryDirectory() + "calibrate-netns-\(tag).hosts"
        try endpoints.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func close() {
        for pid in pids { ChildProcesses.signal(pid, SIGKILL) }
        for i in 0..<count { try? Self.run(Self.ip, "netns", "del", names(i).namespace) }
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationStatus == 0 else { throw WorkerLost(address: executable, reason: "\(arguments.joined(separator: " ")): \(text)") }
        return text
    }

    static func waitFor(_ text: String, in file: String) throws {
        for _ in 0..<500 {
            if let content = try? String(contentsOfFile: file, encoding: .utf8), content.contains(text) { return }
            usleep(20_000)
        }
        throw WorkerLost(address: file, reason: "no \"\(text)\" in 10 s: \((try? String(contentsOfFile: file, encoding: .utf8)) ?? "")")
    }
}

@Suite("workers in network namespaces", .serialized)
struct NetworkNamespaceTests {
    @Test("3 workers in their own network namespaces; one's link cut mid-job: the others finish with an undisturbed run's bytes",
          .enabled(if: NamespaceCluster.unavailable == nil, "\(NamespaceCluster.unavailable ?? "")"))
    func cutLink() async throws {
        let undisturbed = try await JobOverWireTests.run(
            JobWorkers(connections: (0..<3).map { SerialWorker(index: $0) }, shutdown: {}), recipe: JobOverWireTests.recipe())
        let cluster = try NamespaceCluster(workers: 3)
        defer { cluster.close() }
        let workers = try await JobWorkers.connect(.hostsFile(try cluster.hostsFile()), configuration: JobOverWireTests.pool)
        let link = cluster.names(2).outside
        // `ip link set … down`: packets stop both ways, no connection is reset.
        let cut = FaultingWorker(inner: workers.connections[2], at: 5) { try NamespaceCluster.run(NamespaceCluster.ip, "link", "set", link, "down") }
        let report = try await JobOverWireTests.run(JobWorkers(connections: [workers.connections[0], workers.connections[1], cut], shutdown: workers.shutdown),
                                                    recipe: JobOverWireTests.recipe())
        #expect(report.shards.map(\.sha256) == undisturbed.shards.map(\.sha256))
        #expect(report.losses.map(\.worker) == [workers.connections[2].address] && report.losses.allSatisfy(\.recovered), "\(report.losses)")
        #expect(report.processes.filter { $0.address.contains("10.213.") }.count == 3, "\(report.processes.map(\.address))")
    }
}
