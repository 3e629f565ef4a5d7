import Checkpoint
import Foundation
import ModelConfiguration
import Tensors

extension ParserFuzzing {
    /// A safetensors header: the input is the start of a file (length, JSON, data).
    @Sendable public static func safetensorsHeader(_ input: [UInt8]) {
        _ = input.withUnsafeBytes { try? SafetensorsHeader(parsing: $0, file: "fuzz.safetensors") }
    }

    /// A safetensors file, mapped from a scratch file as `CheckpointReader` opens one, and every
    /// tensor it lists read through to Float (the bytes a validated header promises must be there).
    @Sendable public static func safetensorsFile(_ input: [UInt8]) {
        let path = ScratchFiles.write(input, to: "model.safetensors")
        guard let reader = try? CheckpointReader(path: path) else { return }
        for name in reader.names {
            guard let tensor = try? reader.tensor(name) else { continue }
            _ = tensor.floats()
            reader.release(name)
        }
    }

    /// A `model.safetensors.index.json`.
    @Sendable public static func shardIndex(_ input: [UInt8]) {
        guard let index = try? ShardIndex(parsing: Data(input), file: ShardIndex.fileName) else { return }
        _ = index.shardNames
        _ = index.encoded()
    }

    /// A model's `config.json`.
    @Sendable public static func modelConfig(_ input: [UInt8]) {
        _ = try? ModelConfig(parsing: Data(input), file: "config.json")
    }
}
