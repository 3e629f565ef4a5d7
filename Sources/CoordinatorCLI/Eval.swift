import ArgumentParser
import Checkpoint
import Datasets
import Foundation
import Kernels
import Model

/// `coordinator eval --model DIR --tokens FILE --seq-len 512`: perplexity of a model on
/// pre-tokenized text, in non-overlapping windows (see `EvaluationWindows`).
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Perplexity of a model on token ids, in non-overlapping windows (CPU, float32).",
        discussion: """
            Each window of --seq-len tokens is an independent sequence that predicts its tokens \
            1…L-1 from their prefixes (transformers' perplexity recipe with stride = max_length); a \
            shorter remainder is dropped. Prints perplexity = exp(mean NLL) over all predicted tokens.
            """)

    @Option(help: "Model directory: config.json plus model.safetensors or a sharded index.")
    var model: String

    @Option(help: "Token ids: a JSON array or an int32 .npy file.")
    var tokens: String

    @Option(help: "Tokens per window.")
    var seqLen = 512

    @Option(help: "Evaluate at most this many windows (the first ones).")
    var maxWindows: Int?

    @Option(help: "BLAS threads (default: every core).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Windows run through the layers together.")
    var batchWindows = 8

    func validate() throws {
        guard seqLen >= 2 else { throw ValidationError("--seq-len must be at least 2 (a window predicts its tokens 1…L-1)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard batchWindows >= 1 else { throw ValidationError("--batch-windows must be at least 1") }
        if let maxWindows, maxWindows < 1 { throw ValidationError("--max-windows must be at least 1") }
    }

    func run() throws {
        BLAS.setThreadCount(threads)
        let source = try CheckpointWeightSource(directory: model)
        let config = source.config
        let ids = try TokenFile.read(tokens, vocabularySize: config.vocabSize)
        let windows = try EvaluationWindows(tokens: ids, length: seqLen, maxWindows: maxWindows)
        print("model \(model): \(config.modelType.rawValue), \(config.numHiddenLayers) layers, hidden \(config.hiddenSize), vocab \(config.vocabSize)")
        print("tokens \(tokens): \(ids.count) ids → \(windows.count) windows of \(seqLen) (\(windows.predictedTokens) predicted tokens); \(threads) BLAS threads")
        let start = Date()
        let result = try Evaluation.perplexity(
            source: source, windows: windows, options: Evaluation.Options(windowsPerBatch: batchWindows)) { done, total in
            let seconds = Date().timeIntervalSince(start)
            print("  \(done)/\(total) windows, \(String(format: "%.1f", seconds)) s")
        }
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "perplexity %.4f  mean NLL %.6f  tokens %d  (%d windows)", result.perplexity,
                     result.meanNegativeLogLikelihood, result.predictedTokens, result.windows))
        let peak = ProcessMemory.peakResidentBytes.map { String(format: "%.0f MiB", Double($0) / 1_048_576) } ?? "unknown"
        print(String(format: "time %.1f s (%.0f tokens/s), ", seconds, Double(windows.count * seqLen) / seconds) + "peak RSS " + peak)
    }
}
