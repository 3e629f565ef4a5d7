import ArgumentParser
import Checkpoint
import CoordinatorCore
import Foundation
import ModelConfiguration

/// What a lost worker costs: the job over a hosts file of worker processes, undisturbed and with
/// one worker SIGKILLed during a given layer; each disturbed run's wall time next to the
/// undisturbed one measured in the same invocation, its recovery (seconds, bytes, layers replayed)
/// from the report, and whether its shards are the undisturbed run's bytes.
struct RecoveryBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery",
        abstract: "Recovery cost of a worker SIGKILLed at given layers, next to the undisturbed job in the same run.")

    @OptionGroup var inputs: BenchJobInputs

    @Option(help: "Worker processes (each one BLAS thread).")
    var workers = 3

    @Option(parsing: .upToNextOption, help: "Layers (from 0) during which the last worker is killed, one run each.")
    var killAt: [Int] = [1, 15, 29]

    @Option(help: "First TCP port for the workers (each run takes the next `workers` ports).")
    var port = 47100

    func run() throws {
        let layers = try ModelConfig(directory: inputs.model).numHiddenLayers
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        print("recovery: \(inputs.samples) × \(inputs.seqLen) tokens, \(workers) worker processes, \(layers) layers, GPTQ w4 g64; heartbeat timeout 3 s")
        var basePort = port
        func job(killing layer: Int?) throws -> (JobReport, Double) {
            defer { basePort += workers }
            return try runJob(directory: directory, ports: (basePort..<(basePort + workers)).map { $0 }, kill: layer, layers: layers)
        }
        let (undisturbed, seconds) = try job(killing: nil)
        print("  undisturbed: \(format(seconds, 1)) s")
        for layer in killAt {
            let (report, wall) = try job(killing: layer)
            let same = report.shards.map(\.sha256) == undisturbed.shards.map(\.sha256)
            let loss = report.losses.first
            print("  killed at layer \(layer): \(format(wall, 1)) s = \(format(wall / seconds * 100, 0)) % of undisturbed; "
                  + "recovery \(format(loss?.recoverySeconds ?? 0, 1)) s (\(loss?.replayedLayers ?? 0) layers replayed on \(loss?.samples ?? 0) samples, "
                  + "\(ByteSize.describe(loss?.recoveryBytes ?? 0)) moved), detected after \(format((loss?.at ?? 0), 1)) s; same bytes: \(same ? "yes" : "NO")")
        }
    }

    /// Starts worker processes on `ports`, runs the coordinator over them, SIGKILLs the last
    /// worker when the coordinator reports a capture in layer `kill`; returns the report and the wall time.
    private func runJob(directory: URL, ports: [Int], kill: Int?, layers: Int) throws -> (JobReport, Double) {
        let out = NSTemporaryDirectory() + "calibrate-bench-recovery-\(UUID().uuidString)"
        let hosts = out + ".hosts"
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: hosts)
        }
        let workerProcesses = try ports.map { port -> Process in
            let process = Process()
            process.executableURL = directory.appendingPathComponent("worker")
            process.arguments = ["--listen", "tcp://127.0.0.1:\(port)", "--threads", "1"]
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        defer {
            for process in workerProcesses where process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
        try ports.map { "127.0.0.1:\($0)" }.joined(separator: "\n").write(toFile: hosts, atomically: true, encoding: .utf8)
        let coordinator = Process()
        coordinator.executableURL = directory.appendingPathComponent("coordinator")
        coordinator.arguments = ["--model", inputs.model, "--calib", inputs.calib, "--out", out, "--method", "gptq", "--bits", "4", "--group-size", "64",
                                 "--samples", String(inputs.samples), "--seq-len", String(inputs.seqLen), "--workers", hosts,
                                 "--heartbeat-interval", "0.5", "--heartbeat-timeout", "3"]
        let errors = Pipe()
        coordinator.standardError = errors
        coordinator.standardOutput = FileHandle.nullDevice
        let start = Date()
        try coordinator.run()
        var pending = ""
        var killed = kill == nil
        while true {
            let data = errors.fileHandleForReading.availableData
            if data.isEmpty { break }
            pending += String(decoding: data, as: UTF8.self)
            while let newline = pending.firstIndex(of: "\n") {
                let line = pending[..<newline]
                if !killed, let kill, line.contains("layer \(kill + 1)/\(layers) capture") {
                    kill_(workerProcesses[workerProcesses.count - 1].processIdentifier)
                    killed = true
                }
                pending = String(pending[pending.index(after: newline)...])
            }
        }
        coordinator.waitUntilExit()
        let wall = Date().timeIntervalSince(start)
        guard coordinator.terminationStatus == 0 else { throw ValidationError("coordinator exited with status \(coordinator.terminationStatus)") }
        return (try JSONDecoder().decode(JobReport.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/calibrate-report.json"))), wall)
    }

    private func kill_(_ pid: Int32) { _ = Foundation.kill(pid, SIGKILL) }
}
