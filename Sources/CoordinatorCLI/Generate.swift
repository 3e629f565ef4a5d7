import ArgumentParser
import Foundation
import Kernels
import Model
import ModelConfiguration
import Tokenizer

/// `coordinator generate --model DIR --prompt TEXT`: greedy decoding, to see that a model (an
/// import, a quantized output) speaks.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Greedy-decode a continuation of a prompt with calibrate's own forward pass (plain or quantized checkpoints).",
        discussion: "Each step runs the whole sequence again (no KV cache): meant for a few dozen tokens of checking, not for serving.")

    @Option(help: "Model directory (plain or compressed-tensors), with tokenizer.json.")
    var model: String

    @Option(help: "The prompt.")
    var prompt: String

    @Option(help: "Tokens to generate.")
    var maxTokens = 32

    @Option(help: "BLAS threads (default: every core).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
    }

    func run() throws {
        BLAS.setThreadCount(threads)
        guard let tokenizer = try ModelInputs.tokenizer(model) else {
            throw ValidationError("\(model) has no tokenizer.json")
        }
        let source = CachedWeightSource(try ModelInputs.weightSource(model))
        let head = try OutputHead(weights: source.outputWeights(), config: source.config)
        var ids = tokenizer.encode(prompt)
        let promptCount = ids.count
        for _ in 0..<maxTokens {
            guard ids.count < source.config.maxPositionEmbeddings else { break }
            let runner = try LayerStreamingRunner(source: source, sequences: [ids[...]])
            try runner.run()
            let next = head.withLogits(of: runner.states, rows: (ids.count - 1)..<ids.count) { logits in
                let row = logits(ids.count - 1).logits
                return Int32(row.indices.max { row[$0] < row[$1] }!)
            }
            ids.append(next)
            if next == tokenizer.eosTokenID { break }
        }
        print(prompt + tokenizer.decode(Array(ids[promptCount...]), skipSpecialTokens: true))
    }
}

/// Keeps every layer after its first load (generation reads each layer once per token).
final class CachedWeightSource: WeightSource {
    private let base: any WeightSource
    private var layers: [Int: LayerWeights] = [:]

    init(_ base: any WeightSource) { self.base = base }

    var config: ModelConfig { base.config }

    func embeddings(of tokens: [Int32]) throws -> Matrix { try base.embeddings(of: tokens) }

    func layer(_ index: Int) throws -> LayerWeights {
        if let cached = layers[index] { return cached }
        let loaded = try base.layer(index)
        layers[index] = loaded
        return loaded
    }

    func outputWeights() throws -> OutputWeights { try base.outputWeights() }
}
