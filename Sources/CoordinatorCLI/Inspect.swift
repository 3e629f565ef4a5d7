import ArgumentParser
import Checkpoint
import ModelConfiguration
import Tensors

/// `coordinator inspect --model DIR`: validates a checkpoint and prints what it holds.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a model directory (config.json and safetensors) and summarize it.")

    @Option(help: "Model directory: config.json plus model.safetensors or a sharded index.")
    var model: String

    @Flag(help: "List every tensor with its dtype and shape.")
    var tensors = false

    func run() throws {
        let config = try ModelConfig(directory: model)
        let checkpoint = try CheckpointReader(path: model)
        print("model: \(model)")
        print("  type \(config.modelType.rawValue), \(config.numHiddenLayers) layers, hidden \(config.hiddenSize), "
              + "heads \(config.numAttentionHeads)/\(config.numKeyValueHeads) (head_dim \(config.headDim)), "
              + "MLP \(config.intermediateSize), vocab \(config.vocabSize), \(config.torchDtype.rawValue)")
        var bytes = 0
        for name in checkpoint.names {
            let entry = try checkpoint.entry(name)
            bytes += entry.byteCount
            if tensors { print("  \(name)  \(entry.dtype.rawValue) \(entry.shape)") }
        }
        print("  \(checkpoint.names.count) tensors, \(bytes) bytes, all headers and offsets valid")
    }
}
