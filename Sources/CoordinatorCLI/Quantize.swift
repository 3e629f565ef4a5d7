import ArgumentParser
import Checkpoint
import Cluster
import CoordinatorCore
import Datasets
import Foundation
import Kernels
import ModelConfiguration
import RemoteWorkers

/// `coordinator [quantize] --model DIR --calib FILE --out DIR ...`: the main job.
struct Quantize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Calibrate and quantize a model across workers; write a compressed-tensors checkpoint.",
        discussion: """
            Every recipe field can also come from a YAML file (--recipe); flags given on the command \
            line override it. Without --workers, worker processes are started on this machine.

            On a shared network, give the coordinator a key and each worker's public key in the \
            hosts file (see `coordinator keygen --help`). Example:
              coordinator --model DIR --calib data.jsonl --out OUT --workers hosts.txt --key keys/coordinator.key
            with hosts.txt lines such as "node-1:5555 keys=keys" or "node-1:5555 key=<40-character Z85 key>".
            """)

    @Option(help: "Model directory: config.json, safetensors, tokenizer files.")
    var model: String

    @Option(help: "Calibration data: plain text, JSON lines with a \"text\" field, or token ids (JSON array or int32 .npy).")
    var calib: String

    @Option(help: "Output directory for the quantized checkpoint.")
    var out: String

    @OptionGroup var recipeOptions: RecipeOptions

    @Flag(help: "Go on with the unfinished job in --out (its coordinator was stopped or lost): the same command, plus --resume. Refused when the model, data or recipe differ.")
    var resume = false

    @Flag(help: "Replace a checkpoint already in --out.")
    var overwrite = false

    @Flag(help: "Start even when --out's filesystem has less free space than the checkpoint is estimated to need.")
    var noSpaceCheck = false

    @OptionGroup var workerOptions: WorkerOptions

    @Option(help: "How a worker that joins mid-job (added to the hosts file, or SIGHUP) gets its samples' hidden states: move (sent by the workers that held them) or replay (rebuilt from the embeddings through the layers done).")
    var joinTransfer: JoinTransfer = .move

    @Option(help: "Workers each stage's solve is spread over: auto (as many as pay for their copy of the factor, from the link and solve rates the job's solves measure; every worker until then), all, or at most N. The output is the same bytes whichever.")
    var solveWorkers: SolveWorkers = .auto

    @Option(help: "Where GPTQ's factors are made: auto (the coordinator first, the solving workers once, then wherever it ran faster), coordinator, or workers (each solving worker makes it from H, sent as the same bytes the factor would be). The output is the same bytes whichever.")
    var factorOn: FactorPlace = .auto

    /// kill:PHASE:LAYER (SIGKILL this process just before it sends the first matching request to
    /// a worker): tests of --resume on real processes; never shown in --help.
    @Option(help: ArgumentHelp(visibility: .private), transform: { try CoordinatorFault(parsing: $0) })
    var fault: CoordinatorFault?

    func run() async throws {
        if resume && overwrite { throw ValidationError("--resume goes on with the job in --out, --overwrite starts it again: give one") }
        let recipe = try recipeOptions.makeRecipe()
        let tokenizer = try ModelInputs.tokenizer(model)
        let sequences = try CalibrationData.load(path: calib, tokenizer: tokenizer, samples: recipe.samples,
                                                 sequenceLength: recipe.sequenceLength, seed: recipe.seed)
        let workers = try await workerOptions.connectJobWorkers().injecting(fault)
        // SIGINT/SIGTERM: tell the workers to stop (local ones exit and their sockets go), then
        // exit. Shards are renamed into place only when complete and the index and config come
        // last, so what is left in --out never looks like a checkpoint. A second signal kills
        // the local workers at once.
        ProcessSignals.onTermination { signal in
            FileHandle.standardError.write(Data("calibrate: signal \(signal): stopping the workers; \(out) is left incomplete\n".utf8))
            Task {
                await workers.shutdown()
                Foundation.exit(128 + signal)
            }
        }
        if let joining = workers.joining {
            // SIGHUP: read the hosts file again at the next layer boundary, even if unchanged
            // (a worker that could not be reached, or a lost one restarted, is tried again).
            ProcessSignals.onHangup { joining.requestReread() }
        }
        do {
            let progress = ProgressReporter(totalLayers: try ModelConfig(directory: model).numHiddenLayers, samples: sequences.count)
            progress.log("calibrate: \(recipe.method.rawValue) \(recipe.bits)-bit group \(recipe.groupSize), \(sequences.count) samples × \(recipe.sequenceLength) tokens, \(workers.connections.count) workers")
            var inputs = JobInputs(modelPath: model, outputPath: out, overwrite: overwrite, recipe: recipe, sequences: sequences,
                                   workerThreads: workerOptions.workerThreads ?? 0, minWorkers: workerOptions.minWorkers, resume: resume,
                                   joinTransfer: joinTransfer)
            inputs.checkSpace = !noSpaceCheck
            inputs.solveWorkers = solveWorkers.limit
            inputs.factorOn = factorOn
            let job = try CalibrationJob(
                inputs: inputs,
                workers: workers.connections, joining: workers.joining, progress: progress)
            let report = try await job.run()
            await workers.shutdown()
            let loss = report.layers.flatMap(\.modules).reduce(0) { $0 + $1.loss }
            print("wrote \(out): \(report.shards.count) shard(s), \(ByteSize.describe(report.shards.reduce(0) { $0 + $1.bytes })), total loss \(String(format: "%.4g", loss)), \(String(format: "%.1f", report.totalSeconds)) s")
            for lost in report.losses {
                print("lost \(lost.worker) at layer \(lost.layer) (\(lost.phase)): \(lost.samples) sample(s) went to \(lost.reassignedTo.joined(separator: ", ")); "
                      + "recovery took \(String(format: "%.1f", lost.recoverySeconds)) s, replayed \(lost.replayedLayers) layer(s)")
            }
            for join in report.joins {
                print("joined \(join.worker) at layer \(join.layer): \(join.samples) sample(s) from \(join.from.isEmpty ? "nobody" : join.from.joined(separator: ", ")), "
                      + "\(join.transfer), took \(String(format: "%.1f", join.seconds)) s")
            }
            for departure in report.departures {
                print("\(departure.worker) left at layer \(departure.layer): \(departure.samples) sample(s) went to \(departure.to.isEmpty ? "nobody" : departure.to.joined(separator: ", ")), "
                      + "\(departure.transfer), took \(String(format: "%.1f", departure.seconds)) s")
            }
            print("report: \(out)/calibrate-report.md")
        } catch {
            await workers.shutdown()
            throw error
        }
    }
}

extension JoinTransfer: ExpressibleByArgument {}

/// `--solve-workers`: auto, all or a count.
enum SolveWorkers: ExpressibleByArgument, Equatable {
    case auto, all
    case atMost(Int)

    init?(argument: String) {
        switch argument {
        case "auto": self = .auto
        case "all": self = .all
        default:
            guard let count = Int(argument), count >= 1 else { return nil }
            self = .atMost(count)
        }
    }

    /// `JobInputs.solveWorkers`.
    var limit: Int? {
        switch self {
        case .auto: nil
        case .all: Int.max
        case .atMost(let count): count
        }
    }

    var defaultValueDescription: String { "auto" }
}

extension FactorPlace: ExpressibleByArgument {}
