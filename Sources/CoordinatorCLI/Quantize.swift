import ArgumentParser
import Cluster
import Checkpoint
import CoordinatorCore
import Datasets
import Foundation
import RemoteWorkers
import Kernels

/// `coordinator [quantize] --model DIR --calib FILE --out DIR ...`: the main job.
struct Quantize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Calibrate and quantize a model across workers; write a compressed-tensors checkpoint.",
        discussion: """
            Every recipe field can also come from a YAML file (--recipe); flags given on the command \
            line override it. Without --workers, worker processes are started on this machine.
            """)

    @Option(help: "Model directory: config.json, safetensors, tokenizer files.")
    var model: String

    @Option(help: "Calibration data: plain text, JSON lines with a \"text\" field, or token ids (JSON array or int32 .npy).")
    var calib: String

    @Option(help: "Output directory for the quantized checkpoint.")
    var out: String

    @Option(help: "YAML recipe with the fields below (method, bits, group_size, sym, act_order, damp, samples, seq_len, seed, ignore, max_shard_size, true_sequential, stream_weights, awq_grid, awq_duo_scaling, awq_clip, awq_gptq, smoothquant, act_bits).")
    var recipe: String?

    @Option(help: "gptq, rtn or awq (default: gptq).")
    var method: String?

    @Option(help: "Bits per weight, 2–8 (default: 4).")
    var bits: Int?

    @Option(parsing: .unconditional, help: "Input channels per group; -1 = per channel (default: 128).")
    var groupSize: Int?

    @Flag(help: "Symmetric (default) or asymmetric quantization with zero points.")
    var symmetry: Symmetry?

    @Flag(help: "GPTQ act-order (desc_act) with static groups.")
    var actOrder = false

    @Option(help: "GPTQ damping, a fraction of mean(diag H) (default: 0.01).")
    var damp: Double?

    @Option(help: "Calibration sequences (default: 128).")
    var samples: Int?

    @Option(help: "Tokens per calibration sequence (default: 2048).")
    var seqLen: Int?

    @Option(help: "Seed of the sample selection (default: 0).")
    var seed: UInt64?

    @Option(help: "Module names (or suffixes) left unquantized; repeatable (default: lm_head).")
    var ignore: [String] = []

    @Option(help: "Tensor bytes per output shard, e.g. 5GB or 500MB (default: 5GB).")
    var maxShardSize: String?

    @Flag(help: "Capture each layer with its original weights, then quantize (for comparison with tools that work that way).")
    var noTrueSequential = false

    @Flag(help: "Send layer weights to the workers instead of letting them read --model.")
    var streamWeights = false

    @Option(help: "AWQ: ratios tried per scaling group (default: 20).")
    var awqGrid: Int?

    @Flag(help: "AWQ: quantize the scaled weights with GPTQ instead of round-to-nearest.")
    var awqGptq = false

    @Option(help: "AWQ: v→o and up→down output error from XᵀX (gram), on the workers' samples (samples), or the cheaper (auto: samples while tokens ≤ the linear's inputs).")
    var awqOutputLoss: String?

    @Flag(help: "AWQ: scale by activations alone (x̄^α) instead of AutoAWQ's duo scaling.")
    var noAwqDuoScaling = false

    @Flag(help: "AWQ: skip the weight clip search.")
    var noAwqClip = false

    @Option(help: "SmoothQuant migration strength α (e.g. 0.5): smooth the q/k/v and gate/up inputs before quantizing.")
    var smoothquant: Double?

    @Option(help: "Activation bits: 8 writes W8A8 (int8 weights per channel, int8 dynamic per-token activations).")
    var actBits: Int?

    @Flag(help: "Replace a checkpoint already in --out.")
    var overwrite = false

    @OptionGroup var workerOptions: WorkerOptions

    enum Symmetry: String, EnumerableFlag {
        case sym, asym
    }

    func validate() throws {
        if let awqOutputLoss, Recipe.AWQOutputLoss(rawValue: awqOutputLoss) == nil {
            throw ValidationError("--awq-output-loss must be one of \(Recipe.AWQOutputLoss.allCases.map(\.rawValue).joined(separator: ", ")), found \(awqOutputLoss)")
        }
        if let method, Recipe.Method(rawValue: method) == nil {
            throw ValidationError("--method must be one of \(Recipe.Method.allCases.map(\.rawValue).joined(separator: ", ")), found \(method)")
        }
    }

    /// The recipe: defaults, then the YAML file, then the flags given.
    func makeRecipe() throws -> Recipe {
        var recipe = Recipe()
        if let path = self.recipe { try recipe.apply(yamlFile: path) }
        if let method { recipe.method = Recipe.Method(rawValue: method)! }
        if let bits { recipe.bits = bits }
        if let groupSize { recipe.groupSize = groupSize }
        if let symmetry { recipe.symmetric = symmetry == .sym }
        if actOrder { recipe.actOrder = true }
        if let damp { recipe.damp = damp }
        if let samples { recipe.samples = samples }
        if let seqLen { recipe.sequenceLength = seqLen }
        if let seed { recipe.seed = seed }
        if !ignore.isEmpty { recipe.ignore = ignore }
        if let maxShardSize { recipe.maxShardSize = try ByteSize.parse(maxShardSize) }
        if noTrueSequential { recipe.trueSequential = false }
        if streamWeights { recipe.streamWeights = true }
        if let awqGrid { recipe.awqGrid = awqGrid }
        if awqGptq { recipe.awqGPTQ = true }
        if let awqOutputLoss { recipe.awqOutputLoss = Recipe.AWQOutputLoss(rawValue: awqOutputLoss)! }
        if noAwqDuoScaling { recipe.awqDuoScaling = false }
        if noAwqClip { recipe.awqClip = false }
        if let smoothquant { recipe.smoothQuant = smoothquant }
        if let actBits { recipe.activationBits = actBits }
        // W8A8 weights are per output channel: activation bits without a group size imply -1.
        if recipe.activationBits != nil && groupSize == nil && recipe.groupSize == Recipe().groupSize { recipe.groupSize = -1 }
        try recipe.validate()
        return recipe
    }

    func run() async throws {
        let recipe = try makeRecipe()
        let tokenizer = try ModelInputs.tokenizer(model)
        let sequences = try CalibrationData.load(path: calib, tokenizer: tokenizer, samples: recipe.samples,
                                                 sequenceLength: recipe.sequenceLength, seed: recipe.seed)
        let workers = try await workerOptions.connectJobWorkers()
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
        do {
            let progress = ProgressReporter(totalLayers: try ModelConfig(directory: model).numHiddenLayers, samples: sequences.count)
            progress.log("calibrate: \(recipe.method.rawValue) \(recipe.bits)-bit group \(recipe.groupSize), \(sequences.count) samples × \(recipe.sequenceLength) tokens, \(workers.connections.count) workers")
            let job = try CalibrationJob(
                inputs: JobInputs(modelPath: model, outputPath: out, overwrite: overwrite, recipe: recipe, sequences: sequences,
                                  workerThreads: workerOptions.workerThreads ?? 0),
                workers: workers.connections, progress: progress)
            let report = try await job.run()
            await workers.shutdown()
            let loss = report.layers.flatMap(\.modules).reduce(0) { $0 + $1.loss }
            print("wrote \(out): \(report.shards.count) shard(s), \(ByteSize.describe(report.shards.reduce(0) { $0 + $1.bytes })), total loss \(String(format: "%.4g", loss)), \(String(format: "%.1f", report.totalSeconds)) s")
            print("report: \(out)/calibrate-report.md")
        } catch {
            await workers.shutdown()
            throw error
        }
    }
}
