import ArgumentParser
import Datasets
import Foundation
import Kernels
import Model
import ModelConfiguration

/// `coordinator eval --model DIR --data FILE`: perplexity of a model, or of two (original and
/// quantized) with the KL divergence of their next-token distributions.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Perplexity of a model (or two, with their KL divergence) on text or token ids (CPU, float32).",
        discussion: """
            The data is cut into non-overlapping windows of --seq-len tokens; each window is an \
            independent sequence predicting its tokens 1…L-1 from their prefixes (transformers' \
            perplexity recipe with stride = max_length); a shorter remainder is dropped. Text and JSON \
            lines are tokenized with --model's tokenizer.json. A compressed-tensors checkpoint (what \
            calibrate writes) is dequantized as it is read.
            """)

    @Option(help: "Model directory: config.json plus safetensors (plain or compressed-tensors).")
    var model: String

    @Option(help: "A second model to compare with --model (e.g. its quantized output): both perplexities and KL(model ‖ compare).")
    var compare: String?

    @Option(name: [.customLong("data"), .customLong("tokens"), .customLong("text")],
            help: "Evaluation data: plain text, JSON lines with a \"text\" field, or token ids (a JSON array or an int32 .npy file).")
    var data: String

    @Option(help: "Tokens per window.")
    var seqLen = 512

    @Option(help: "Evaluate at most this many windows (the first ones).")
    var maxWindows: Int?

    @Option(help: "BLAS threads (default: every core).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Windows run through the layers together.")
    var batchWindows = 8

    @Flag(help: "Print the result as one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard seqLen >= 2 else { throw ValidationError("--seq-len must be at least 2 (a window predicts its tokens 1…L-1)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard batchWindows >= 1 else { throw ValidationError("--batch-windows must be at least 1") }
        if let maxWindows, maxWindows < 1 { throw ValidationError("--max-windows must be at least 1") }
    }

    func run() throws {
        BLAS.setThreadCount(threads)
        let source = try ModelInputs.weightSource(model)
        let stream = try ModelInputs.tokens(data, model: model)
        let windows = try EvaluationWindows(tokens: stream.tokens, length: seqLen, maxWindows: maxWindows)
        let config = source.config
        log("model \(model): \(config.modelType.rawValue), \(config.numHiddenLayers) layers, hidden \(config.hiddenSize), vocab \(config.vocabSize)")
        log("data \(data) (\(stream.kind.rawValue)): \(stream.tokens.count) tokens → \(windows.count) windows of \(seqLen) (\(windows.predictedTokens) predicted); \(threads) BLAS threads")
        let start = Date()
        let options = Evaluation.Options(windowsPerBatch: batchWindows)
        let progress: Evaluation.Progress = { done, total in
            log("  \(done)/\(total) windows, \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        }
        var result: [String: Any] = ["model": model, "data": data, "seq_len": seqLen, "windows": windows.count, "tokens": windows.predictedTokens]
        if let compare {
            let candidate = try ModelInputs.weightSource(compare)
            let comparison = try Evaluation.compare(reference: source, candidate: candidate, windows: windows, options: options, progress: progress)
            result["compare"] = compare
            result["perplexity"] = comparison.reference.perplexity
            result["mean_nll"] = comparison.reference.meanNegativeLogLikelihood
            result["compare_perplexity"] = comparison.candidate.perplexity
            result["compare_mean_nll"] = comparison.candidate.meanNegativeLogLikelihood
            result["mean_kl"] = comparison.meanDivergence
            result["max_kl"] = comparison.maxDivergence
            if !json {
                let change = (comparison.candidate.perplexity / comparison.reference.perplexity - 1) * 100
                print(String(format: "perplexity %.4f  (%@)", comparison.reference.perplexity, model))
                print(String(format: "perplexity %.4f  (%@, %+.2f%%)", comparison.candidate.perplexity, compare, change))
                print(String(format: "KL(model ‖ compare): mean %.6f nats, max %.4f over %d tokens", comparison.meanDivergence, comparison.maxDivergence, comparison.reference.predictedTokens))
            }
        } else {
            let perplexity = try Evaluation.perplexity(source: source, windows: windows, options: options, progress: progress)
            result["perplexity"] = perplexity.perplexity
            result["mean_nll"] = perplexity.meanNegativeLogLikelihood
            if !json {
                print(String(format: "perplexity %.4f  mean NLL %.6f  tokens %d  (%d windows)", perplexity.perplexity,
                             perplexity.meanNegativeLogLikelihood, perplexity.predictedTokens, perplexity.windows))
            }
        }
        let seconds = Date().timeIntervalSince(start)
        result["seconds"] = seconds
        result["peak_rss_bytes"] = ProcessMemory.peakResidentBytes ?? 0
        if json {
            let text = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print(String(decoding: text, as: UTF8.self))
        } else {
            let peak = ProcessMemory.peakResidentBytes.map { String(format: "%.0f MiB", Double($0) / 1_048_576) } ?? "unknown"
            print(String(format: "time %.1f s, ", seconds) + "peak RSS " + peak)
        }
    }

    /// Progress and context go to standard error, results to standard output.
    private func log(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
