import Checkpoint
import Formats

extension ParserFuzzing {
    /// A compressed-tensors checkpoint directory: `InputParts.first` is its config.json (with the
    /// `quantization_config`), `rest` its model.safetensors. Opened as `eval` and `generate` open a
    /// quantized model, then every tensor's layout and every tensor, dequantized.
    @Sendable public static func compressedTensors(_ input: [UInt8]) {
        let parts = InputParts(input)
        let folder = ScratchFiles.subdirectory("compressed-tensors")
        ScratchFiles.write(parts.first, to: "config.json", in: folder)
        ScratchFiles.write(parts.rest, to: "model.safetensors", in: folder)
        _ = CompressedTensorsStore.isQuantized(folder)
        guard let store = try? CompressedTensorsStore(directory: folder) else { return }
        for name in store.names {
            _ = try? store.layout(of: name)
            _ = try? store.tensor(name)
            store.release(name)
        }
    }
}
