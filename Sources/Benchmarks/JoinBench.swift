import ArgumentParser
import Checkpoint
import CoordinatorCore
import Foundation
import ModelConfiguration

/// What a joining worker costs and buys, by each transfer: the job over a hosts file of worker
/// processes started with `workers`, a further one appended to the file during a given layer's
/// capture (it joins at the next boundary), once with `--join-transfer move` and once with
/// `replay`; each run's wall time next to undisturbed runs with `workers` and `workers + 1`
/// measured in the same invocation, the hand-over's seconds and bytes from the report, and
/// whether its shards are the undisturbed runs' bytes.
struct JoinBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "A worker joining mid-job, by moved hidden states and by replay, next to undisturbed jobs with and without it in the same run.")

    @OptionGroup var inputs: BenchJobInputs

    @Option(help: "Worker processes at the start (each one BLAS thread); one more joins.")
    var workers = 2

    @Option(parsing: .upToNextOption, help: "Layers (from 0) during whose capture the new worker is listed, one run per transfer each.")
    var joinAt: [Int] = [1, 15]

    @Option(help: "First TCP port for the workers (each run takes the next `workers + 1` ports).")
    var port = 47300

    func run() throws {
        let layers = try ModelConfig(directory: inputs.model).numHiddenLayers
        print("join: \(inputs.samples) × \(inputs.seqLen) tokens, \(workers) worker processes + 1 joining, \(layers) layers, GPTQ w4 g64")
        var basePort = port
        func job(listed: Int, joining layer: Int?, transfer: String = "move") throws -> (JobReport, Double) {
            defer { basePort += workers + 1 }
            let run = HostsFileRun(inputs: inputs, ports: Array(basePort..<(basePort + workers + 1)), listed: listed, arguments: ["--join-transfer", transfer])
            var listedNew = layer == nil
            return try run.run { line, control in
                if !listedNew, let layer, line.contains("layer \(layer + 1)/\(layers) capture") {
                    try control.list(worker: workers)
                    listedNew = true
                }
            }
        }
        let (alone, aloneSeconds) = try job(listed: workers, joining: nil)
        let (all, allSeconds) = try job(listed: workers + 1, joining: nil)
        print("  undisturbed: \(workers) workers \(format(aloneSeconds, 1)) s, \(workers + 1) workers \(format(allSeconds, 1)) s; same bytes: \(alone.shards.map(\.sha256) == all.shards.map(\.sha256) ? "yes" : "NO")")
        for layer in joinAt {
            for transfer in ["move", "replay"] {
                let (report, wall) = try job(listed: workers, joining: layer, transfer: transfer)
                let same = report.shards.map(\.sha256) == alone.shards.map(\.sha256)
                guard let join = report.joins.first else {
                    print("  listed at layer \(layer), \(transfer): \(format(wall, 1)) s; the worker did not join; same bytes: \(same ? "yes" : "NO")")
                    continue
                }
                print("  \(transfer), joined at layer \(join.layer): \(format(wall, 1)) s = \(format(wall / aloneSeconds * 100, 0)) % of \(workers) workers, "
                      + "\(format(wall / allSeconds * 100, 0)) % of \(workers + 1); hand-over \(format(join.seconds, 2)) s for \(join.samples) samples "
                      + "(\(ByteSize.describe(join.bytes)), \(join.transfer)); same bytes: \(same ? "yes" : "NO")")
            }
        }
    }
}
