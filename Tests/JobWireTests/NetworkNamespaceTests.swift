import Cluster
import CoordinatorCore
import Foundation
import JobProtocol
import RemoteWorkers
import Tensors
import Testing
import TestSupport
import Transport
import Wire
import WorkerCore

/// Worker processes, each in a network namespace of its own behind a veth link shaped with tc tbf
/// (1 Gbit/s towards the worker by default; `bothWays` shapes the worker's replies too), the
/// coordinator in this process: real TCP between separate network stacks. Needs root and
/// iproute2 (these machines and CI have both); skipped, saying why, elsewhere.
final class NamespaceCluster {
    static let (ip, tc) = (NetworkNamespaces.ip, NetworkNamespaces.tc)

    /// Why the test cannot run here, or nil when it can.
    static var unavailable: String? { NetworkNamespaces.unavailable }

    let tag = String(getpid() % 100_000)
    let count: Int
    private(set) var pids: [pid_t] = []
    private(set) var endpoints: [String] = []
    /// Each worker's standard error.
    private(set) var logs: [String] = []

    /// Starts `count` workers behind links of `rate` (tc's units: "1gbit", "8mbit"), worker i at
    /// 10.`network`.i.2 (tests that may run at the same time use different networks).
    /// - Parameter arguments: more options for each worker (`--diagnostic`, `--chunk-bytes N`).
    init(workers count: Int, network: Int = 213, rate: String = "1gbit", bothWays: Bool = false, arguments: [String] = []) throws {
        self.count = count
        do {
            for i in 0..<count {
                let (namespace, outside, inside) = names(i)
                try Self.run(Self.ip, "netns", "add", namespace)
                try Self.run(Self.ip, "link", "add", outside, "type", "veth", "peer", "name", inside)
                try Self.run(Self.ip, "link", "set", inside, "netns", namespace)
                try Self.run(Self.ip, "addr", "add", "10.\(network).\(i).1/24", "dev", outside)
                try Self.run(Self.ip, "link", "set", outside, "up")
                try Self.run(Self.ip, "netns", "exec", namespace, Self.ip, "addr", "add", "10.\(network).\(i).2/24", "dev", inside)
                try Self.run(Self.ip, "netns", "exec", namespace, Self.ip, "link", "set", inside, "up")
                try Self.run(Self.ip, "netns", "exec", namespace, Self.ip, "link", "set", "lo", "up")
                try Self.run(Self.tc, "qdisc", "add", "dev", outside, "root", "tbf", "rate", rate, "burst", "64kb", "latency", "50ms")
                if bothWays {
                    try Self.run(Self.ip, "netns", "exec", namespace, Self.tc, "qdisc", "add", "dev", inside, "root", "tbf", "rate", rate, "burst", "64kb", "latency", "50ms")
                }
                let log = NSTemporaryDirectory() + "calibrate-netns-\(tag)-\(i).err"
                let pid = try ChildProcesses.spawn(Self.ip, arguments: ["netns", "exec", namespace, LocalWorkers.executableNextToThisOne(),
                                                                          "--listen", "tcp://10.\(network).\(i).2:5555", "--threads", "1", "--exit-with-parent", "--insecure"] + arguments, standardError: log)
                pids.append(pid)
                logs.append(log)
                endpoints.append("10.\(network).\(i).2:5555")
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

    /// Kills the workers and removes their namespaces and links (the link explicitly: a namespace
    /// goes, with its end of the link, only once its last process has, so a next cluster of the
    /// same names could find the link still there).
    func close() {
        for pid in pids { ChildProcesses.signal(pid, SIGKILL) }
        for pid in pids { for _ in 0..<500 where !ChildProcesses.hasExited(pid) { usleep(10_000) } }
        for i in 0..<count {
            try? Self.run(Self.ip, "link", "del", names(i).outside)
            try? Self.run(Self.ip, "netns", "del", names(i).namespace)
        }
        for log in logs { try? FileManager.default.removeItem(atPath: log) }
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

    /// Who sends whole messages in `slowLink` (chunks are the fix; whole messages are the problem).
    enum Framing: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case chunked, coordinatorSendsWhole, workerSendsWhole
        var testDescription: String { rawValue }
    }

    @Test("an 8 MiB echo over a link shaped to 8 Mbit/s both ways (≈ 8.4 s each way), heartbeat timeout 5 s (2 s and 3 s each starved a healthy session once under the whole suite): it arrives intact and no loss is reported; sent whole either way (the problem chunks solve), the same echo loses the worker",
          .enabled(if: NamespaceCluster.unavailable == nil, "\(NamespaceCluster.unavailable ?? "")"), .serialized, arguments: Framing.allCases)
    func slowLink(_ framing: Framing) async throws {
        let timeout = Duration.seconds(5)
        let whole = ["--chunk-bytes", String(Int.max)]
        let cluster = try NamespaceCluster(workers: 1, network: 214, rate: "8mbit", bothWays: true,
                                           arguments: ["--diagnostic"] + (framing == .workerSendsWhole ? whole : []))
        defer { cluster.close() }
        var transport = ZMQTransport.Configuration()
        if framing == .coordinatorSendsWhole { transport.chunkBytes = .max }
        let pool = WorkerPool(transport: try ZMQTransport(configuration: transport),
                              configuration: PoolConfiguration(heartbeatInterval: .milliseconds(200), heartbeatTimeout: timeout, handshakeTimeout: .seconds(30)),
                              log: .standardError(label: "slow-link coordinator"))
        let events = EventLog(pool.events)
        let info = try await pool.connect(to: "tcp://" + cluster.endpoints[0])
        let payload = NamedTensor("payload", Tensor(floats: (0..<(2 << 20)).map { Float($0 % 4093) }, shape: [2 << 20]))
        let started = ContinuousClock.now
        var reply: Reply?
        var failure: (any Error)?
        do { reply = try await pool.request(.echo(Echo(note: "slow link")), tensors: [payload], to: info.id) } catch { failure = error }
        let elapsed = ContinuousClock.now - started
        let workerLog = (try? String(contentsOfFile: cluster.logs[0], encoding: .utf8)) ?? ""
        let losses = framing == .chunked ? await events.losses : await events.firstLosses()
        switch framing {
        case .chunked:
            #expect(failure == nil, "\(String(describing: failure)); worker: \(workerLog)")
            #expect(reply?.message.tensors.first?.checksum == payload.checksum)
            #expect(reply?.message.tensors.first?.tensor.floats() == payload.tensor.floats())
            #expect(losses.isEmpty, "\(losses)")
            #expect(await pool.workers.map(\.id) == [info.id])
            #expect(!workerLog.contains("silent for"), "\(workerLog)")
            // The premise: the link was slow enough for the timeout to matter (16.8 MB at 1 MB/s).
            #expect(elapsed > timeout * 3, "the echo took \(elapsed): is the link shaped?")
        case .coordinatorSendsWhole, .workerSendsWhole:
            #expect((failure as? ClusterError)?.code == .workerLost, "\(String(describing: failure)); took \(elapsed)")
            #expect(!losses.isEmpty)
            if framing == .coordinatorSendsWhole {
                // A listener takes frames of at most a chunk: libzmq drops the connection as the
                // 8 MiB frame's header arrives, and the coordinator's reconnection has no session
                // (or, had it been slower, the session's peer fell silent).
                #expect(workerLog.contains("outside a session") || workerLog.contains("silent for"), "\(workerLog)")
            } else {
                #expect(losses.contains { $0.contains("nothing received for") }, "\(losses)")
            }
        }
        await pool.shutdown(reason: "done", exitProcesses: true)
    }
}

/// The reasons of the losses a pool reports, as they come.
actor EventLog {
    private(set) var losses: [String] = []

    init(_ events: AsyncStream<PoolEvent>) {
        Task { [weak self] in
            for await event in events {
                if case .lost(let id, let endpoint, let reason) = event { await self?.record("\(id) (\(endpoint)): \(reason)") }
            }
        }
    }

    private func record(_ loss: String) { losses.append(loss) }

    /// The losses once there is one, waiting up to `timeout` seconds (a request fails just before
    /// its worker's loss is reported).
    func firstLosses(timeout: Double = 10) async -> [String] {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while losses.isEmpty && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        return losses
    }
}
