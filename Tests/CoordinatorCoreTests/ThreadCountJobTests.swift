import Checkpoint
import CoordinatorCore
import Foundation
import Kernels
import Tensors
import TestSupport
import Testing
import WorkerCore

/// Whole jobs on a model wide enough that every product, Gram matrix and factorization is tiled
/// (hidden 320, intermediate 640: more than one 256-wide tile or block everywhere), with other
/// thread counts on the coordinator and the workers: the shards must be the same bytes.
@Suite("thread counts and output bytes")
struct ThreadCountJobTests {
    /// A random llama: 1 layer, hidden 320 (5 heads of 64, 5 kv heads), intermediate 640,
    /// vocabulary 300, float32; weights uniform in ±1/√fan-in.
    static let model: String = {
        let directory = NSTemporaryDirectory() + "calibrate-wide-llama-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (hidden, intermediate, vocabulary, layers) = (320, 640, 300, 1)
        var random = SplitMix64(seed: 320)
        func matrix(_ rows: Int, _ columns: Int) -> Tensor {
            let scale = 1 / Float(columns).squareRoot()
            return Tensor(floats: random.floats(rows * columns).map { $0 * scale }, shape: [rows, columns])
        }
        func norm() -> Tensor { Tensor(floats: random.floats(hidden).map { 1 + $0 / 4 }, shape: [hidden]) }
        var tensors = ["model.embed_tokens.weight": matrix(vocabulary, hidden), "lm_head.weight": matrix(vocabulary, hidden),
                       "model.norm.weight": norm()]
        for layer in 0..<layers {
            let prefix = "model.layers.\(layer)."
            tensors[prefix + "input_layernorm.weight"] = norm()
            tensors[prefix + "post_attention_layernorm.weight"] = norm()
            for name in ["q_proj", "k_proj", "v_proj", "o_proj"] { tensors[prefix + "self_attn.\(name).weight"] = matrix(hidden, hidden) }
            tensors[prefix + "mlp.gate_proj.weight"] = matrix(intermediate, hidden)
            tensors[prefix + "mlp.up_proj.weight"] = matrix(intermediate, hidden)
            tensors[prefix + "mlp.down_proj.weight"] = matrix(hidden, intermediate)
        }
        let config = """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "hidden_size": \(hidden),
             "intermediate_size": \(intermediate), "num_attention_heads": 5, "num_key_value_heads": 5,
             "num_hidden_layers": \(layers), "max_position_embeddings": 512, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
             "tie_word_embeddings": false, "torch_dtype": "float32", "vocab_size": \(vocabulary)}
            """
        try? Data(config.utf8).write(to: URL(fileURLWithPath: directory + "/config.json"))
        try? SafetensorsWriter.write(tensors, to: directory + "/model.safetensors")
        return directory
    }()

    /// The job's shard digests with `coordinator` threads here and `workerThreads` in each worker.
    static func digests(recipe: Recipe, workers: Int, coordinator: Int, workerThreads: Int) async throws -> [String] {
        let out = NSTemporaryDirectory() + "calibrate-threads-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let samples = tokenSequences(count: 6, length: 64, vocabulary: 300, seed: 7)
        let job = try CalibrationJob(
            inputs: JobInputs(modelPath: model, outputPath: out, overwrite: false, recipe: recipe, sequences: samples,
                              workerThreads: workerThreads, statisticsBatchTokens: 128),
            workers: (0..<workers).map { SerialWorker(index: $0) })
        let report = try await ComputeThreads.$taskCount.withValue(coordinator) { try await job.run() }
        return report.shards.map(\.sha256)
    }

    static func recipe(_ name: String) -> Recipe {
        var recipe = Recipe()
        recipe.samples = 6
        recipe.sequenceLength = 64
        switch name {
        case "gptq act-order":
            recipe.groupSize = 64
            recipe.actOrder = true
        case "awq":
            recipe.method = .awq
            recipe.groupSize = 64
            recipe.symmetric = false
        default:
            recipe.bits = 8
            recipe.groupSize = -1
            recipe.smoothQuant = 0.5
            recipe.activationBits = 8
        }
        return recipe
    }

    @Test("1, 2 and 3 threads on the coordinator and on the workers write the same bytes",
          arguments: ["gptq act-order", "awq", "w8a8"])
    func threadCounts(recipe name: String) async throws {
        let recipe = Self.recipe(name)
        let reference = try await Self.digests(recipe: recipe, workers: 1, coordinator: 1, workerThreads: 1)
        for (workers, coordinator, threads) in [(2, 3, 2), (3, 2, 3)] {
            let digests = try await Self.digests(recipe: recipe, workers: workers, coordinator: coordinator, workerThreads: threads)
            #expect(digests == reference, "\(name): \(workers) workers, \(coordinator) coordinator threads, \(threads) worker threads")
        }
    }
}
