import ArgumentParser
import CoordinatorCore
import Foundation

/// `coordinator plan` against the job it plans: each configuration is run for real (local
/// workers, or worker hosts in network namespaces behind links of a given rate), then planned
/// with rates measured in the same run (`--local`: every worker shares this machine's cores,
/// the network-namespace hosts too), and the planned seconds per phase, traffic and peak memory
/// are printed next to the measured ones.
struct PlanBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Planned (coordinator plan) against measured time per phase, traffic and memory of the main job.")

    @OptionGroup var inputs: BenchJobInputs

    @Option(help: "Local worker counts, comma-separated (empty: none).")
    var workers = "1,2"

    @Option(help: "Link rates for runs over deploy/netns-cluster.sh (root), comma-separated, e.g. 1gbit,200mbit (empty: none).")
    var netnsRates = ""

    @Option(help: "Worker hosts of the network-namespace runs.")
    var netnsWorkers = 3

    @Option(help: "Group size.")
    var groupSize = 64

    func run() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        print("plan vs job: \(inputs.samples) × \(inputs.seqLen) tokens, GPTQ w4 g\(groupSize), \(cores) cores (workers' threads: the cores divided among them)")
        for count in workers.split(separator: ",").compactMap({ Int($0) }) {
            let threads = max(1, cores / count)
            let (report, wall) = try runJob(["--local-workers", String(count), "--worker-threads", String(threads)], host: nil)
            let plan = try planned(count: count, link: nil)
            compare("\(count) local worker(s), \(threads) thread(s) each", report: report, wall: wall, plan: plan)
        }
        for rate in netnsRates.split(separator: ",").map(String.init) {
            let threads = max(1, cores / netnsWorkers)
            let (report, wall) = try overNamespaces(rate: rate, threads: threads)
            let plan = try planned(count: netnsWorkers, link: rate)
            compare("\(netnsWorkers) worker hosts at \(rate) (netns), \(threads) thread(s) each", report: report, wall: wall, plan: plan)
        }
    }

    private var directory: URL { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent() }

    private var jobArguments: [String] {
        ["--model", inputs.model, "--calib", inputs.calib, "--method", "gptq", "--bits", "4", "--group-size", String(groupSize),
         "--samples", String(inputs.samples), "--seq-len", String(inputs.seqLen)]
    }

    /// Runs the coordinator (on a netns host when `host` is a cluster name) and reads its report.
    private func runJob(_ arguments: [String], host: String?) throws -> (JobReport, Double) {
        let out = NSTemporaryDirectory() + "calibrate-bench-plan-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let coordinator = directory.appendingPathComponent("coordinator").path
        let command = [coordinator] + jobArguments + ["--out", out] + arguments
        let start = Date()
        let status = try launch(host.map { ["/bin/bash", "deploy/netns-cluster.sh", "exec", $0, "c"] + command } ?? command)
        let wall = Date().timeIntervalSince(start)
        guard status == 0 else { throw ValidationError("coordinator exited with status \(status)") }
        return (try JSONDecoder().decode(JobReport.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/calibrate-report.json"))), wall)
    }

    /// The job on `netnsWorkers` worker hosts behind links of `rate`.
    private func overNamespaces(rate: String, threads: Int) throws -> (JobReport, Double) {
        guard getuid() == 0 else { throw ValidationError("--netns-rates needs root (ip netns)") }
        let name = "calpb"
        _ = try? launch(["/bin/bash", "deploy/netns-cluster.sh", "down", name])
        guard try launch(["/bin/bash", "deploy/netns-cluster.sh", "up", name, String(netnsWorkers), rate]) == 0 else {
            throw ValidationError("deploy/netns-cluster.sh up failed")
        }
        defer { _ = try? launch(["/bin/bash", "deploy/netns-cluster.sh", "down", name]) }
        var hosts: [String] = []
        for host in 1...netnsWorkers {
            let address = Self.address(of: String(host), in: name)
            let worker = Process()
            worker.executableURL = URL(fileURLWithPath: "/bin/bash")
            worker.arguments = ["deploy/netns-cluster.sh", "exec", name, String(host), directory.appendingPathComponent("worker").path,
                                "--listen", "tcp://\(address):5555", "--insecure", "--threads", String(threads), "--exit-with-parent"]
            worker.standardError = FileHandle.nullDevice
            try worker.run()
            hosts.append("\(address):5555")
        }
        Thread.sleep(forTimeInterval: 1)
        let file = NSTemporaryDirectory() + "calibrate-bench-plan-\(getpid()).hosts"
        try hosts.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        return try runJob(["--workers", file], host: name)
    }

    /// Host `host`'s address in cluster `name`, as netns-cluster.sh gives it.
    private static func address(of host: String, in name: String) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["deploy/netns-cluster.sh", "address", name, host]
        let output = Pipe()
        process.standardOutput = output
        try? process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `coordinator plan --json` for the same job, rates measured now.
    private func planned(count: Int, link: String?) throws -> [String: Any] {
        let process = Process()
        process.executableURL = directory.appendingPathComponent("coordinator")
        process.arguments = ["plan", "--model", inputs.model, "--method", "gptq", "--bits", "4", "--group-size", String(groupSize),
                             "--samples", String(inputs.samples), "--seq-len", String(inputs.seqLen), "--workers", String(count),
                             "--local", "--json"] + (link.map { ["--link", $0] } ?? [])
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let plan = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ValidationError("coordinator plan failed: \(String(decoding: data, as: UTF8.self))")
        }
        return plan
    }

    private func compare(_ title: String, report: JobReport, wall: Double, plan: [String: Any]) {
        let layers = Double(report.layers.count)
        var measured: [String: Double] = [:]
        for layer in report.layers { for (phase, seconds) in layer.seconds { measured[phase, default: 0] += seconds } }
        print("\(title):")
        let phases = (plan["phases"] as? [[String: Any]]) ?? []
        for phase in phases {
            guard let name = phase["name"] as? String, let seconds = phase["seconds"] as? Double else { continue }
            let planned = seconds * layers
            let actual = measured[name] ?? 0
            print("  \(name.padding(toLength: 8, withPad: " ", startingAt: 0)) planned \(format(planned, 2)) s, measured \(format(actual, 2)) s"
                  + (actual > 0.05 ? " (\(format(planned / actual, 2))×)" : ""))
        }
        let total = plan["total_seconds"] as? Double ?? 0
        print("  total    planned \(format(total, 1)) s, measured \(format(report.totalSeconds, 1)) s (\(format(total / report.totalSeconds, 2))×; wall with start-up \(format(wall, 1)) s)")
        let sent = ((plan["layer_bytes_sent"] as? [String: Double]) ?? [:]).values.reduce(0, +) * layers + (plan["start_bytes"] as? Double ?? 0)
        let received = ((plan["layer_bytes_received"] as? [String: Double]) ?? [:]).values.reduce(0, +) * layers
        print("  traffic  planned \(ByteSize.describe(Int(sent))) sent / \(ByteSize.describe(Int(received))) received, "
              + "measured \(ByteSize.describe(report.bytesSent)) / \(ByteSize.describe(report.bytesReceived))")
        let workerPeak = report.processes.filter { $0.role == "worker" }.map(\.peakResidentBytes).max() ?? 0
        let coordinatorPeak = report.processes.filter { $0.role == "coordinator" }.map(\.peakResidentBytes).max() ?? 0
        print("  memory   planned worker \(ByteSize.describe(Int(plan["worker_peak_bytes"] as? Double ?? 0))), coordinator \(ByteSize.describe(Int(plan["coordinator_peak_bytes"] as? Double ?? 0))); "
              + "measured \(ByteSize.describe(workerPeak)), \(ByteSize.describe(coordinatorPeak))")
        if let rates = plan["rates"] as? [String: Double] {
            print("  rates    forward \(format(rates["forward_gflops"] ?? 0, 1)) GFLOP/s, XᵀX \(format(rates["statistics_gflops"] ?? 0, 1)), solve \(format(rates["solve_gflops"] ?? 0, 1)), "
                  + "factor \(format(rates["factor_gflops"] ?? 0, 1)); link \(ByteSize.describe(Int(rates["coordinator_link_bytes_per_second"] ?? 0)))/s")
        }
    }

    private func launch(_ command: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
