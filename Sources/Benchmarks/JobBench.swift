import ArgumentParser
import Checkpoint
import CoordinatorCore
import Foundation
import JobProtocol
import Kernels
import ModelConfiguration

/// The main job end to end — real worker processes, a real model — next to its dense floor: the
/// job's unavoidable FLOPs (one forward pass of every sample plus XᵀX of every distinct linear
/// input, `JobCost`) divided by the sgemm rate measured in the same run on the model's product
/// shapes. Optionally, peak memory per worker as samples and workers vary.
struct JobBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "The calibration job (coordinator + local workers) next to its dense floor, time per phase, peak RSS per process.")

    @OptionGroup var inputs: BenchJobInputs

    @Option(help: "Local worker processes.")
    var workers = 2

    @Option(help: "Quantization method.")
    var method = "gptq"

    @Option(help: "Group size.")
    var groupSize = 64

    @Flag(help: "Also run 64, 128 and 256 samples with 1 and 2 workers and print each worker's peak RSS.")
    var memoryScan = false

    func run() throws {
        let config = try ModelConfig(directory: inputs.model)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        BLAS.setThreadCount(cores)
        let rate = sgemmRate(config)
        print("sgemm on the model's shapes (512 rows, \(cores) threads): \(format(rate, 1)) GFLOP/s")
        let report = try runJob(samples: inputs.samples, workers: workers)
        let cost = JobCost(config: config, samples: inputs.samples, sequenceLength: inputs.seqLen)
        let floor = cost.seconds(atGFLOPS: rate)
        print("job: \(method) 4-bit group \(groupSize), \(inputs.samples) × \(inputs.seqLen) tokens, \(workers) local workers, \(config.numHiddenLayers) layers")
        print("  dense floor: \(format(cost.totalFLOPs / 1e12, 2)) TFLOP (forward \(format(cost.forwardFLOPs / 1e12, 2)) + XᵀX \(format(cost.statisticsFLOPs / 1e12, 2))) / \(format(rate, 1)) GFLOP/s = \(format(floor, 1)) s")
        print("  wall time:   \(format(report.totalSeconds, 1)) s = \(format(report.totalSeconds / floor, 2))× the floor")
        var phases: [String: Double] = [:]
        for layer in report.layers { for (phase, seconds) in layer.seconds { phases[phase, default: 0] += seconds } }
        print("  phases:      " + phases.sorted { $0.value > $1.value }.map { "\($0.key) \(format($0.value, 1)) s" }.joined(separator: ", "))
        print("  peak RSS:    " + report.processes.map { "\($0.role) \($0.address.split(separator: "/").last ?? "") \(format(Double($0.peakResidentBytes) / 1_048_576, 0)) MiB" }.joined(separator: ", "))
        print("  traffic:     \(ByteSize.describe(report.bytesSent)) sent, \(ByteSize.describe(report.bytesReceived)) received")
        var byKind: [String: JobReport.Bytes] = [:]
        for link in report.processes.compactMap(\.traffic) {
            byKind.merge(link, uniquingKeysWith: +)
        }
        print("  by request:  " + byKind.sorted { $0.value.total > $1.value.total }
            .map { "\($0.key) \(ByteSize.describe($0.value.sent)) / \(ByteSize.describe($0.value.received))" }.joined(separator: ", ") + " (sent / received)")
        guard memoryScan else { return }
        print("peak RSS per worker (MiB) as samples and workers vary:")
        for workerCount in [1, 2] {
            for sampleCount in [64, 128, 256] {
                let scan = try runJob(samples: sampleCount, workers: workerCount)
                let rss = scan.processes.filter { $0.role == "worker" }.map { "\($0.samples) samples: \(format(Double($0.peakResidentBytes) / 1_048_576, 0))" }
                print("  \(workerCount) worker(s), \(sampleCount) samples → " + rss.joined(separator: "; "))
            }
        }
    }

    /// Runs `coordinator` (next to this executable) and reads its report.
    private func runJob(samples: Int, workers: Int) throws -> JobReport {
        let out = NSTemporaryDirectory() + "calibrate-bench-job-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("coordinator").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--model", inputs.model, "--calib", inputs.calib, "--out", out, "--method", method, "--bits", "4", "--group-size", String(groupSize),
                             "--samples", String(samples), "--seq-len", String(inputs.seqLen), "--local-workers", String(workers)]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("coordinator exited with status \(process.terminationStatus)") }
        return try JSONDecoder().decode(JobReport.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/calibrate-report.json")))
    }

    /// sgemm GFLOP/s over the model's linear shapes at 512 rows, weighted by their FLOPs in a layer.
    private func sgemmRate(_ config: ModelConfig) -> Double {
        KernelRates.sgemm(shapes: [(config.queryWidth, config.hiddenSize, 2), (config.keyValueWidth, config.hiddenSize, 2),
                                   (config.intermediateSize, config.hiddenSize, 2), (config.hiddenSize, config.intermediateSize, 1)],
                          repetitions: 5)
    }
}

/// The model, data and sample shape of a benchmark that runs the whole job.
struct BenchJobInputs: ParsableArguments {
    @Option(help: "Model directory (e.g. models/smollm2-135m from deploy/fetch-model.sh).")
    var model: String

    @Option(help: "Calibration data (text, JSON lines or ids).")
    var calib: String

    @Option(help: "Calibration sequences.")
    var samples = 128

    @Option(help: "Tokens per sequence.")
    var seqLen = 512
}
