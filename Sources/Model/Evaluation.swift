#if canImport(Glibc)
import Glibc
#endif
import Kernels
import ModelConfiguration

/// Perplexity of one model, and the divergence of two models' next-token distributions, over
/// `EvaluationWindows`. Windows run in batches through `LayerStreamingRunner` (one layer's
/// weights in memory at a time); the output head is loaded once and kept.
///
/// Memory: output head (vocab × hidden floats) + one layer + hidden states of one batch of
/// windows + workspaces; `compare` holds two of each head and batch.
public enum Evaluation {
    /// Batching and kernel options of an evaluation.
    public struct Options: Sendable {
        /// Windows run through the layers together (their hidden states are held together).
        public var windowsPerBatch: Int
        public var execution: ExecutionOptions
        /// Tokens whose logits are computed at once (× vocabSize floats).
        public var logitsChunkTokens: Int

        public init(windowsPerBatch: Int = 8, execution: ExecutionOptions = ExecutionOptions(), logitsChunkTokens: Int = 64) {
            precondition(windowsPerBatch >= 1 && logitsChunkTokens >= 1, "Evaluation.Options: sizes must be positive")
            self.windowsPerBatch = windowsPerBatch
            self.execution = execution
            self.logitsChunkTokens = logitsChunkTokens
        }
    }

    /// Progress after each batch: (windows done, windows in all).
    public typealias Progress = (_ done: Int, _ total: Int) -> Void

    /// The perplexity of `source` on `windows`: exp of the mean negative log-likelihood of every
    /// predicted token (tokens 1 … L−1 of every window given their prefix in the window).
    public static func perplexity(source: any WeightSource, windows: EvaluationWindows, options: Options = Options(),
                                  progress: Progress? = nil) throws -> PerplexityResult {
        try checkLength(windows, source)
        let head = try OutputHead(weights: source.outputWeights(), config: source.config, chunkTokens: options.logitsChunkTokens)
        var result = PerplexityResult()
        for batch in batches(windows, options) {
            let states = try finalHiddenStates(source: source, windows: windows, range: batch, options: options)
            for (position, window) in batch.enumerated() {
                let rows = (position * windows.length) ..< ((position + 1) * windows.length - 1)
                let tokens = windows[window]
                head.forEachToken(of: states, rows: rows) { token in
                    let next = tokens[tokens.startIndex + token.row - rows.lowerBound + 1]
                    result.add(negativeLogLikelihood: -token.logProbability(of: Int(next)))
                }
                result.windows += 1
            }
            progress?(batch.upperBound, windows.count)
        }
        try checkFinite(result, "perplexity")
        return result
    }

    /// Compares two models that share a vocabulary (e.g. original and quantized) on the same
    /// windows: the mean and largest KL(P_reference ‖ P_candidate) of the next-token
    /// distributions over every predicted position, and both perplexities.
    public static func compare(reference: any WeightSource, candidate: any WeightSource, windows: EvaluationWindows,
                               options: Options = Options(), progress: Progress? = nil) throws -> Comparison {
        guard reference.config.vocabSize == candidate.config.vocabSize else {
            throw ModelError(.badInput, "vocabularies differ: reference \(reference.config.vocabSize), candidate \(candidate.config.vocabSize) tokens")
        }
        for source in [reference, candidate] { try checkLength(windows, source) }
        let chunk = options.logitsChunkTokens
        let referenceHead = try OutputHead(weights: reference.outputWeights(), config: reference.config, chunkTokens: chunk)
        let candidateHead = try OutputHead(weights: candidate.outputWeights(), config: candidate.config, chunkTokens: chunk)
        var comparison = Comparison()
        for batch in batches(windows, options) {
            let p = try finalHiddenStates(source: reference, windows: windows, range: batch, options: options)
            let q = try finalHiddenStates(source: candidate, windows: windows, range: batch, options: options)
            for (position, window) in batch.enumerated() {
                let tokens = windows[window]
                let rows = (position * windows.length) ..< ((position + 1) * windows.length - 1)
                for start in stride(from: rows.lowerBound, to: rows.upperBound, by: chunk) {
                    let part = start ..< min(start + chunk, rows.upperBound)
                    referenceHead.withLogits(of: p, rows: part) { referenceRow in
                        candidateHead.withLogits(of: q, rows: part) { candidateRow in
                            for row in part {
                                let (a, b) = (referenceRow(row), candidateRow(row))
                                let next = Int(tokens[tokens.startIndex + row - rows.lowerBound + 1])
                                comparison.add(divergence: klDivergence(a, b),
                                               referenceNLL: -a.logProbability(of: next), candidateNLL: -b.logProbability(of: next))
                            }
                        }
                    }
                }
                comparison.reference.windows += 1
                comparison.candidate.windows += 1
            }
            progress?(batch.upperBound, windows.count)
        }
        try checkFinite(comparison.reference, "reference perplexity")
        try checkFinite(comparison.candidate, "candidate perplexity")
        guard comparison.meanDivergence.isFinite, comparison.maxDivergence.isFinite else {
            throw ModelError(.nonFinite, "the KL divergence is \(comparison.meanDivergence) (largest \(comparison.maxDivergence)): a model's logits overflow float32")
        }
        return comparison
    }

    /// A perplexity that is NaN or Inf is an error, never a result: the logits overflowed (the
    /// hidden states are checked after every layer, so it is the output head's product) or no
    /// token was predicted.
    private static func checkFinite(_ result: PerplexityResult, _ what: String) throws {
        guard result.predictedTokens > 0 else { throw ModelError(.badInput, "no token to predict: every window needs at least 2 tokens") }
        guard result.perplexity.isFinite else {
            throw ModelError(.nonFinite, "the \(what) is \(result.perplexity) (mean negative log-likelihood \(result.meanNegativeLogLikelihood) over \(result.predictedTokens) tokens): the logits overflow float32 — the model's output weights are not those of a working model")
        }
    }

    /// Hidden states after the last layer of windows `range`, run as one batch of sequences.
    public static func finalHiddenStates(source: any WeightSource, windows: EvaluationWindows, range: Range<Int>,
                                         options: Options = Options()) throws -> HiddenStates {
        let runner = try LayerStreamingRunner(source: source, sequences: windows.sequences(range), options: options.execution)
        try runner.run()
        return runner.states
    }

    /// KL(P ‖ Q) = Σⱼ P(j)·(log P(j) − log Q(j)), accumulated in Double.
    static func klDivergence(_ p: TokenLogits, _ q: TokenLogits) -> Double {
        var sum = 0.0
        for j in 0..<p.logits.count {
            let logP = Double(p.logits[j]) - p.logSumExp
            sum += exp(logP) * (logP - (Double(q.logits[j]) - q.logSumExp))
        }
        return sum
    }

    private static func checkLength(_ windows: EvaluationWindows, _ source: any WeightSource) throws {
        let limit = source.config.maxPositionEmbeddings
        guard windows.length <= limit else {
            throw ModelError(.sequenceTooLong, "windows of \(windows.length) tokens are longer than the model's max_position_embeddings of \(limit)")
        }
    }

    private static func batches(_ windows: EvaluationWindows, _ options: Options) -> [Range<Int>] {
        stride(from: 0, to: windows.count, by: options.windowsPerBatch).map { $0 ..< min($0 + options.windowsPerBatch, windows.count) }
    }
}
