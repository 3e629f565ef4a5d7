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
        print("recovery: \(inputs.samples) × \(inputs.seqLen) tokens, \(workers) worker processes, \(layers) layers, GPTQ w4 g64; heartbeat timeout 3 s")
        var basePort = port
        func job(killing layer: Int?) throws -> (JobReport, Double) {
            defer { basePort += workers }
            let run = HostsFileRun(inputs: inputs, ports: Array(basePort..<(basePort + workers)), listed: workers)
            var killed = layer == nil
            return try run.run { line, control in
                // SIGKILL of the last worker when the coordinator reports a capture in the layer.
                if !killed, let layer, line.contains("layer \(layer + 1)/\(layers) capture") {
                    control.kill(worker: workers - 1)
                    killed = true
                }
            }
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
}
