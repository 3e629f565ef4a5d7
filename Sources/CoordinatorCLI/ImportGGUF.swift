import ArgumentParser
import Foundation
import GGUF

/// `coordinator import-gguf FILE --out DIR`: a GGUF model as a Hugging Face checkpoint.
struct ImportGGUF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-gguf",
        abstract: "Convert a GGUF model (llama, qwen2, qwen3) into a Hugging Face checkpoint: F32 safetensors, config, tokenizer.")

    @Argument(help: "The .gguf file.")
    var file: String

    @Option(help: "Output directory.")
    var out: String

    func run() throws {
        let start = Date()
        let gguf = try GGUFFile(path: file)
        let summary = try GGUFImport.run(gguf, to: out)
        let model = summary.model
        print("imported \(file) → \(out): \(model.architecture), \(model.layers) layers, hidden \(model.hidden), heads \(model.heads)/\(model.kvHeads), "
              + "MLP \(model.intermediate), vocab \(model.vocabularySize); \(summary.tensors) tensors, \(summary.bytes / 1_000_000) MB F32 "
              + "in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }
}
