import ArgumentParser
import Checkpoint
import CoordinatorCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One job over a hosts file of worker processes on loopback TCP, for the benchmarks of a
/// disturbed cluster (`recovery`, `join`): a worker process on every port, the first `listed`
/// of them in the hosts file, the coordinator (next to this executable) run with GPTQ w4 g64,
/// heartbeats 0.5 s / 3 s, and every line it writes to stderr handed to `watch` as it comes,
/// which may kill a worker or list another one.
struct HostsFileRun {
    let inputs: BenchJobInputs
    let ports: [Int]
    let listed: Int
    var arguments: [String] = []

    /// What `watch` may do during the run.
    struct Control {
        let workers: [Process]
        let hostsPath: String
        let ports: [Int]

        func kill(worker index: Int) { _ = Glibc.kill(workers[index].processIdentifier, SIGKILL) }

        /// Appends worker `index`'s address to the hosts file (the coordinator reads it again at
        /// its next layer boundary).
        func list(worker index: Int) throws {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: hostsPath))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("\n127.0.0.1:\(ports[index])\n".utf8))
        }
    }

    /// Runs the job; returns its report and wall seconds.
    /// - Throws: when a process cannot start, the coordinator fails, or the report is unreadable.
    func run(watch: (Substring, Control) throws -> Void) throws -> (JobReport, Double) {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let out = NSTemporaryDirectory() + "calibrate-bench-hosts-\(UUID().uuidString)"
        let hosts = out + ".hosts"
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: hosts)
        }
        let workers = try ports.map { port -> Process in
            let process = Process()
            process.executableURL = directory.appendingPathComponent("worker")
            process.arguments = ["--listen", "tcp://127.0.0.1:\(port)", "--threads", "1"]
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        defer {
            for process in workers where process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
        try ports.prefix(listed).map { "127.0.0.1:\($0)" }.joined(separator: "\n").write(toFile: hosts, atomically: true, encoding: .utf8)
        let control = Control(workers: workers, hostsPath: hosts, ports: ports)
        let coordinator = Process()
        coordinator.executableURL = directory.appendingPathComponent("coordinator")
        coordinator.arguments = ["--model", inputs.model, "--calib", inputs.calib, "--out", out, "--method", "gptq", "--bits", "4", "--group-size", "64",
                                 "--samples", String(inputs.samples), "--seq-len", String(inputs.seqLen), "--workers", hosts,
                                 "--heartbeat-interval", "0.5", "--heartbeat-timeout", "3"] + arguments
        let errors = Pipe()
        coordinator.standardError = errors
        coordinator.standardOutput = FileHandle.nullDevice
        let start = Date()
        try coordinator.run()
        var pending = ""
        while true {
            let data = errors.fileHandleForReading.availableData
            if data.isEmpty { break }
            pending += String(decoding: data, as: UTF8.self)
            while let newline = pending.firstIndex(of: "\n") {
                try watch(pending[..<newline], control)
                pending = String(pending[pending.index(after: newline)...])
            }
        }
        coordinator.waitUntilExit()
        let wall = Date().timeIntervalSince(start)
        guard coordinator.terminationStatus == 0 else { throw ValidationError("coordinator exited with status \(coordinator.terminationStatus)") }
        return (try JSONDecoder().decode(JobReport.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/calibrate-report.json"))), wall)
    }
}
