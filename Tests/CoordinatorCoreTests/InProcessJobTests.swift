import Checkpoint
import CoordinatorCore
import Formats
import Foundation
import Kernels
import Model
import ModelConfiguration
import Tensors
import TestSupport
import Testing
import WorkerCore

/// The whole job on in-process workers, on the small random models of the forward-pass fixtures.
@Suite("calibration job, in process")
struct InProcessJobTests {
    static let root = Repository.root

    static func model(_ name: String) -> String { Repository.model(name) }

    /// `count` sequences of `length` pseudo-random token ids below `vocabulary`.
    static func samples(count: Int, length: Int, vocabulary: Int, seed: UInt64 = 1) -> [[Int32]] {
        tokenSequences(count: count, length: length, vocabulary: vocabulary, seed: seed)
    }

    static func run(model: String, workers: Int, recipe: Recipe, samples: [[Int32]]) async throws -> (JobReport, String) {
        let out = NSTemporaryDirectory() + "calibrate-job-\(UUID().uuidString)"
        let connections = (0..<workers).map { SerialWorker(index: $0) }
        let job = try CalibrationJob(
            // Two 13-token samples per statistics batch: 6 samples make 3 blocks to share out.
            inputs: JobInputs(modelPath: model, outputPath: out, overwrite: false, recipe: recipe, sequences: samples, workerThreads: 1,
                              statisticsBatchTokens: 26),
            workers: connections)
        return (try await job.run(), out)
    }

    static var recipe: Recipe {
        var recipe = Recipe()
        recipe.groupSize = 32
        recipe.samples = 6
        recipe.sequenceLength = 13
        return recipe
    }

    @Test("1, 2 and 3 workers write the same bytes", arguments: ["llama", "qwen3"])
    func workerCountDoesNotMatter(name: String) async throws {
        let samples = Self.samples(count: 6, length: 13, vocabulary: 101)
        var digests: [[String]] = []
        for workers in 1...3 {
            let (report, _) = try await Self.run(model: Self.model(name), workers: workers, recipe: Self.recipe, samples: samples)
            digests.append(report.shards.map(\.sha256))
        }
        #expect(digests[0] == digests[1] && digests[1] == digests[2], "\(digests)")
    }

    @Test("1, 2 and 3 workers write the same bytes with act-order, without true-sequential, and asymmetric",
          arguments: ["act-order", "no-true-sequential", "asym"])
    func workerCountWithOptions(variant: String) async throws {
        var recipe = Self.recipe
        switch variant {
        case "act-order": recipe.actOrder = true
        case "no-true-sequential": recipe.trueSequential = false
        default: recipe.symmetric = false
        }
        let samples = Self.samples(count: 6, length: 13, vocabulary: 101)
        var digests: [[String]] = []
        for workers in 1...3 {
            let (report, _) = try await Self.run(model: Self.model("llama"), workers: workers, recipe: recipe, samples: samples)
            digests.append(report.shards.map(\.sha256))
        }
        #expect(digests[0] == digests[1] && digests[1] == digests[2], "\(digests)")
    }

    @Test("the output is a complete compressed-tensors checkpoint whose tensors unpack to the quantized weights")
    func outputFormat() async throws {
        let samples = Self.samples(count: 6, length: 13, vocabulary: 101)
        let (report, out) = try await Self.run(model: Self.model("llama"), workers: 2, recipe: Self.recipe, samples: samples)
        let reader = try CheckpointReader(path: out)
        let source = try CheckpointReader(path: Self.model("llama"))
        let scheme = try QuantizationScheme(bits: 4, symmetric: true, groupSize: 32, scaleFormat: .float16)
        let config = try ModelConfig(directory: Self.model("llama"))
        for layer in 0..<2 {
            for stage in LayerStage.allCases {
                for (linear, shape) in zip(stage.linearNames, stage.weightShapes(config)) {
                    let module = "model.layers.\(layer).\(linear)"
                    #expect(!reader.contains(module + ".weight"))
                    let tensors = try ["weight_packed", "weight_scale", "weight_shape"].reduce(into: [String: Tensor]()) { $0[$1] = try reader.tensor("\(module).\($1)") }
                    let weights = try CompressedTensorsPacking.unpack(tensors, scheme: scheme, name: module)
                    #expect(weights.rows == shape.rows && weights.columns == shape.columns)
                    // The dequantized weights are close to the originals. 4-bit symmetric RTN on groups
                    // of 32 Gaussian weights leaves ≈ 0.7 % relative squared error (step ≈ 0.28σ,
                    // step²/12 ≈ 0.0065σ²); GPTQ trades weight error for output error, 2–5× more
                    // here. 5 % catches a wrong scale or transposed codes (≥ 100 %).
                    let original = try source.tensor(module + ".weight").floats()
                    let restored = weights.dequantized().values
                    let error = zip(original, restored).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / original.map { $0 * $0 }.reduce(0, +)
                    #expect(error < 0.05, "\(module): relative squared error \(error)")
                }
            }
            #expect(reader.contains("model.layers.\(layer).input_layernorm.weight"))
        }
        for name in ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"] {
            #expect(try reader.tensor(name).withUnsafeBytes { Array($0) } == source.tensor(name).withUnsafeBytes { Array($0) }, "\(name) copied as is")
        }
        let written = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as! [String: Any]
        let quantization = written["quantization_config"] as! [String: Any]
        #expect(quantization["format"] as? String == "pack-quantized" && quantization["ignore"] as? [String] == ["lm_head"])
        #expect(FileManager.default.fileExists(atPath: out + "/calibrate-manifest.json"))
        #expect(report.layers.count == 2 && report.layers.allSatisfy { $0.modules.count == 7 && $0.modules.allSatisfy { $0.loss.isFinite && $0.loss > 0 } })
        // The index lists every tensor of every shard, each in the shard that holds it, and no other.
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors.index.json"))) as! [String: Any]
        let weightMap = index["weight_map"] as! [String: String]
        var inShards: [String: String] = [:]
        for shard in report.shards {
            for name in try CheckpointReader(path: out + "/" + shard.name).names { inShards[name] = shard.name }
        }
        #expect(weightMap == inShards)
        // The written config parses as a model config, and the model runs: perplexity on the
        // calibration windows finite and near the original's. Random weights give a near-uniform
        // next-token distribution (perplexity ≈ vocabulary), which 4-bit weights barely move;
        // 5 % is far outside that and far inside what a broken tensor does.
        let parsed = try ModelConfig(directory: out)
        #expect(parsed.numHiddenLayers == config.numHiddenLayers && parsed.hiddenSize == config.hiddenSize)
        let store = try CompressedTensorsStore(directory: out)
        let comparison = try Evaluation.compare(reference: CheckpointWeightSource(directory: Self.model("llama")),
                                                candidate: CheckpointWeightSource(config: parsed, store: store),
                                                windows: EvaluationWindows(tokens: samples.flatMap { $0 }, length: 13))
        let (before, after) = (comparison.reference.perplexity, comparison.candidate.perplexity)
        #expect(after.isFinite && abs(after / before - 1) < 0.05, "perplexity \(before) → \(after)")
        #expect(comparison.meanDivergence.isFinite && comparison.meanDivergence > 0)
    }

    @Test("layer 0's q, k and v in the checkpoint unpack to exactly what GPTQ makes of them on the samples' Hessian")
    func checkpointHoldsTheKernelsResult() async throws {
        let samples = Self.samples(count: 6, length: 13, vocabulary: 101)
        let (_, out) = try await Self.run(model: Self.model("llama"), workers: 3, recipe: Self.recipe, samples: samples)
        // The first stage sees the original model: input_layernorm of the embeddings. Statistics in
        // the job's batches (blocks of two 13-token samples: statisticsBatchTokens 26), then one
        // whole-matrix solve per linear (the job split each over 3 workers by rows).
        let source = try CheckpointWeightSource(directory: Self.model("llama"))
        let config = source.config
        let weights = try source.layer(0)
        let batch = try SequenceBatch(lengths: samples.map(\.count))
        let executor = try LayerExecutor(config: config, states: HiddenStates(batch: batch, values: source.embeddings(of: samples.flatMap { $0 })),
                                         options: ExecutionOptions(chunkTokens: 512, packSequences: false))
        try executor.begin(weights)
        var statistics = ActivationStatistics(columns: config.hiddenSize)
        try executor.withStageInput(.qkv) { x in
            for first in stride(from: 0, to: samples.count, by: 2) {
                let rows = (first..<min(first + 2, samples.count)).reduce(0) { $0 + samples[$1].count }
                try statistics.accumulate(UnsafeBufferPointer(rebasing: x.values[(batch.offsets[first] * x.width)..<((batch.offsets[first] + rows) * x.width)]),
                                          rows: rows, layer: 0, module: "qkv")
            }
        }
        let factor = try GPTQ.prepareFactor(statistics: statistics, options: GPTQFactorOptions(dampingPercent: Self.recipe.damp))
        let scheme = try QuantizationScheme(bits: 4, symmetric: true, groupSize: 32, scaleFormat: .float16)
        let reader = try CheckpointReader(path: out)
        for (linear, name) in zip(weights.linears(of: .qkv), LayerStage.qkv.linearNames) {
            let expected = try GPTQ.solve(GPTQSolveRequest(firstRow: 0, weights: linear.weight, options: GPTQSolveOptions(scheme: scheme)), factor: factor).quantized
            let module = "model.layers.0.\(name)"
            let tensors = try ["weight_packed", "weight_scale", "weight_shape"].reduce(into: [String: Tensor]()) { $0[$1] = try reader.tensor("\(module).\($1)") }
            let written = try CompressedTensorsPacking.unpack(tensors, scheme: scheme, name: module)
            #expect(written.codes == expected.codes, "\(module): codes")
            #expect(written.scales == expected.scales, "\(module): scales")
        }
    }

    @Test("GPTQ's loss is below RTN's on the first stage, where both see the same inputs")
    func gptqBeatsRTN() async throws {
        let samples = Self.samples(count: 6, length: 13, vocabulary: 101)
        var rtn = Self.recipe
        rtn.method = .rtn
        let (gptqReport, _) = try await Self.run(model: Self.model("llama"), workers: 2, recipe: Self.recipe, samples: samples)
        let (rtnReport, _) = try await Self.run(model: Self.model("llama"), workers: 2, recipe: rtn, samples: samples)
        for position in 0..<3 {
            let (g, r) = (gptqReport.layers[0].modules[position], rtnReport.layers[0].modules[position])
            #expect(g.name == r.name && g.loss < r.loss, "\(g.name): GPTQ \(g.loss), RTN \(r.loss)")
        }
    }

    @Test("an output directory holding a checkpoint is refused before any work")
    func refusesExistingOutput() async throws {
        let samples = Self.samples(count: 2, length: 5, vocabulary: 101)
        let error = await #expect(throws: (any Error).self) {
            _ = try await CalibrationJob(
                inputs: JobInputs(modelPath: Self.model("llama"), outputPath: Self.model("llama"), overwrite: false, recipe: Self.recipe, sequences: samples),
                workers: [SerialWorker(index: 0)]).run()
        }
        #expect("\(error!)".contains("already holds a checkpoint"))
    }

    @Test("a missing model, a malformed config and a group size that does not fit are refused before any work")
    func badInputs() throws {
        let samples = Self.samples(count: 2, length: 5, vocabulary: 101)
        let out = NSTemporaryDirectory() + "calibrate-never-\(UUID().uuidString)"
        func job(_ model: String, _ recipe: Recipe = Self.recipe) throws {
            _ = try CalibrationJob(inputs: JobInputs(modelPath: model, outputPath: out, overwrite: false, recipe: recipe, sequences: samples),
                                   workers: [SerialWorker(index: 0)])
        }
        let missing = #expect(throws: (any Error).self) { try job("/nonexistent/model") }
        #expect("\(missing!)".contains("/nonexistent/model"))
        let broken = NSTemporaryDirectory() + "calibrate-broken-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
        try Data("{\"model_type\": \"llama\"".utf8).write(to: URL(fileURLWithPath: broken + "/config.json"))
        let malformed = #expect(throws: (any Error).self) { try job(broken) }
        #expect("\(malformed!)".contains("config.json"))
        var recipe = Self.recipe
        recipe.groupSize = 48
        let misfit = #expect(throws: JobError.self) { try job(Self.model("llama"), recipe) }
        #expect(misfit?.description.contains("group size 48 does not divide the qkv input width 64") == true, "\(String(describing: misfit))")
        #expect(!FileManager.default.fileExists(atPath: out), "nothing was written")
    }
}
