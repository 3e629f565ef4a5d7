import ArgumentParser
import Checkpoint
import Model
import ModelConfiguration
import Tensors

/// `coordinator inspect --model DIR`: validates a checkpoint with the checks eval and quantize run,
/// and prints what it holds. "valid" means those commands load it.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a model directory (config.json and safetensors) as eval and quantize load it, and summarize it.",
        discussion: """
            Checks config.json, every safetensors header and offset, that every tensor the config \
            requires is present with a float dtype and the shape the config implies, and (unless \
            --headers-only) that every such tensor holds only finite values.
            """)

    @Option(help: "Model directory: config.json plus model.safetensors or a sharded index.")
    var model: String

    @Flag(help: "List every tensor with its dtype and shape.")
    var tensors = false

    @Flag(help: "Check headers, shapes and dtypes only; do not read the weights to check they are finite.")
    var headersOnly = false

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
        let source = try ModelInputs.weightSource(model)
        let required = CheckpointWeightSource.requiredTensors(config).count
        print("  every tensor config.json requires (\(required)) present, with its dtype and shape")
        if headersOnly { return }
        try source.checkValues()
        print("  every required tensor's values finite")
    }
}
