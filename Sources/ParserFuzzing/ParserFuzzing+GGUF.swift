import GGUF

extension ParserFuzzing {
    /// A GGUF file, mapped from a scratch file: header, metadata, tensor infos; then what
    /// `coordinator import-gguf` does with a file that opens: the model's metadata, every tensor
    /// dequantized, and the import into a Hugging Face directory when the model is supported.
    @Sendable public static func ggufFile(_ input: [UInt8]) {
        let path = ScratchFiles.write(input, to: "model.gguf")
        guard let file = try? GGUFFile(path: path) else { return }
        for info in file.tensors { _ = try? file.floats(info.name) }
        guard (try? GGUFModel(file)) != nil else { return }
        _ = try? GGUFImport.run(file, to: ScratchFiles.subdirectory("gguf-import"))
    }

    /// One dequantizer on a buffer of any length (a truncated block included): byte 0 picks the type (of
    /// `GGMLType.allCases`), bytes 1–2 the element count (little-endian), the rest is the data.
    @Sendable public static func ggufDequantize(_ input: [UInt8]) {
        guard input.count >= 3 else { return }
        let type = GGMLType.allCases[Int(input[0]) % GGMLType.allCases.count]
        let count = Int(input[1]) | Int(input[2]) << 8
        let data = Array(input[3...])
        _ = data.withUnsafeBytes { try? Dequantize.floats($0, type: type, count: count, file: "blocks", tensor: type.name) }
    }
}
