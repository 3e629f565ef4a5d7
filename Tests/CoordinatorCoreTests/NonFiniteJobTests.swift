import Checkpoint
import CoordinatorCore
import Foundation
import Tensors
import Testing
import WorkerCore

/// A model whose finite weights overflow float32 cannot be quantized into a checkpoint that looks
/// fine: the job fails naming the layer, and nothing final-looking is written.
@Suite("quantizing a model that overflows")
struct NonFiniteJobTests {
    @Test("weights of 3.4e38 in layer 1: the job fails naming the module, with no checkpoint written", arguments: [Recipe.Method.gptq, .rtn, .awq])
    func hugeWeights(method: Recipe.Method) async throws {
        var recipe = InProcessJobTests.recipe
        recipe.method = method
        let source = InProcessJobTests.model("llama")
        let directory = NSTemporaryDirectory() + "calibrate-overflow-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for file in try FileManager.default.contentsOfDirectory(atPath: source) where !file.hasSuffix(".safetensors") {
            try FileManager.default.copyItem(atPath: source + "/" + file, toPath: directory + "/" + file)
        }
        let reader = try CheckpointReader(path: source + "/model.safetensors")
        var tensors: [String: Tensor] = [:]
        for name in reader.names { tensors[name] = try reader.tensor(name).converted(to: .f32) }
        let name = "model.layers.1.mlp.up_proj.weight"
        let shape = tensors[name]!.shape
        tensors[name] = Tensor(floats: [Float](repeating: 3.4e38, count: shape.reduce(1, *)), shape: shape)
        try SafetensorsWriter.write(tensors, to: directory + "/model.safetensors")

        let samples = InProcessJobTests.samples(count: 4, length: 9, vocabulary: 101)
        let out = directory + "-out"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let job = try CalibrationJob(
            inputs: JobInputs(modelPath: directory, outputPath: out, overwrite: false, recipe: recipe, sequences: samples, workerThreads: 1),
            workers: (0..<2).map { SerialWorker(index: $0) })
        do {
            let report = try await job.run()
            Issue.record("the job succeeded with losses \(report.layers.flatMap { $0.modules.map(\.loss) })")
        } catch {
            // GPTQ and RTN refuse the weights when they quantize them; AWQ's scale search runs the
            // layer first and finds its activations overflow.
            let message = String(describing: error)
            #expect(message.contains(method == .awq ? "layer 1 model.layers.1.mlp.down_proj" : "model.layers.1.mlp.up_proj"), "\(message)")
            #expect(message.contains("overflow") || message.contains("nan") || message.contains("inf"), "\(message)")
        }
        for file in ["config.json", "model.safetensors.index.json", "model.safetensors"] {
            #expect(!FileManager.default.fileExists(atPath: out + "/" + file), "\(file) written by a failed job")
        }
    }
}
