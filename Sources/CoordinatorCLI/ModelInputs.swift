import Checkpoint
import Datasets
import Formats
import Foundation
import Model
import ModelConfiguration
import Tokenizer

/// Opening models and data the way every coordinator command does.
enum ModelInputs {
    /// The weights of the model in `directory`: plain safetensors, or a compressed-tensors
    /// checkpoint dequantized as it is read.
    /// Its layout (every tensor the config requires, dtype and shape) is checked before it is returned.
    static func weightSource(_ directory: String) throws -> CheckpointWeightSource {
        let source: CheckpointWeightSource
        if CompressedTensorsStore.isQuantized(directory) {
            let store = try CompressedTensorsStore(directory: directory)
            source = CheckpointWeightSource(config: try ModelConfig(directory: directory), store: store, activationSchemes: store.activationSchemes)
        } else {
            source = try CheckpointWeightSource(directory: directory)
        }
        try source.checkLayout()
        return source
    }

    /// The tokenizer of the model in `directory`, or nil when it has no tokenizer.json.
    static func tokenizer(_ directory: String) throws -> Tokenizer? {
        let path = (directory as NSString).appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try Tokenizer(contentsOf: directory)
    }

    /// The token ids of a data file (text, JSON lines or ids), tokenized with `model`'s tokenizer.
    static func tokens(_ path: String, model: String) throws -> TokenStream {
        try DataFile.tokens(path: path, tokenizer: tokenizer(model))
    }
}
