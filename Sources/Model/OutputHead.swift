#if canImport(Glibc)
import Glibc
#endif
import Kernels
import ModelConfiguration

/// The logits of one token: a row of vocabSize float32 logits and its log-sum-exp, accumulated in
/// Double, so that log P(j) = logits[j] − logSumExp. Valid only during the call that receives it.
public struct TokenLogits {
    /// Row of the batch this token is.
    public let row: Int
    public let logits: UnsafeBufferPointer<Float>
    /// log Σⱼ exp(logits[j]), computed as m + log Σⱼ exp(logits[j] − m) with m the largest logit,
    /// the exponentials in float32 and their sum in Double.
    public let logSumExp: Double

    /// log P(token) of the next-token distribution.
    public func logProbability(of token: Int) -> Double { Double(logits[token]) - logSumExp }
}

/// The model's output: final RMSNorm and logits = norm(h)·headᵀ, computed a chunk of tokens at a
/// time (chunkTokens × vocabSize floats, however large the vocabulary) through one `sgemm` each.
public final class OutputHead {
    public let config: ModelConfig
    public let weights: OutputWeights
    public let chunkTokens: Int
    private let normed: FloatBuffer
    private let logits: FloatBuffer
    private var logSumExps: [Double]

    /// - Throws: `ModelError.badShape` naming the tensor when the weights do not fit `config`.
    public init(weights: OutputWeights, config: ModelConfig, chunkTokens: Int = 64) throws {
        guard weights.norm.count == config.hiddenSize else {
            throw ModelError(.badShape, tensor: "model.norm.weight", "expected shape [\(config.hiddenSize)], found [\(weights.norm.count)]")
        }
        guard weights.head.rows == config.vocabSize, weights.head.columns == config.hiddenSize else {
            throw ModelError(.badShape, tensor: config.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight",
                             "expected shape [\(config.vocabSize), \(config.hiddenSize)], found [\(weights.head.rows), \(weights.head.columns)]")
        }
        precondition(chunkTokens >= 1, "OutputHead: chunkTokens must be positive")
        self.config = config
        self.weights = weights
        self.chunkTokens = chunkTokens
        normed = FloatBuffer(count: chunkTokens * config.hiddenSize)
        logits = FloatBuffer(count: chunkTokens * config.vocabSize)
        logSumExps = [Double](repeating: 0, count: chunkTokens)
    }

    /// Calls `body` with the logits of every row in `rows` of `states`, in order, a chunk at a time.
    public func forEachToken(of states: HiddenStates, rows: Range<Int>, _ body: (TokenLogits) throws -> Void) rethrows {
        var start = rows.lowerBound
        while start < rows.upperBound {
            let chunk = start ..< min(start + chunkTokens, rows.upperBound)
            try withLogits(of: states, rows: chunk) { row in
                for r in chunk { try body(row(r)) }
            }
            start = chunk.upperBound
        }
    }

    /// Computes the logits of `rows` (at most `chunkTokens`) and calls `body` with an accessor
    /// from a batch row to its `TokenLogits`, valid during the call. Two heads can be nested this
    /// way to compare two models' distributions token by token.
    public func withLogits<R>(of states: HiddenStates, rows: Range<Int>, _ body: ((Int) -> TokenLogits) throws -> R) rethrows -> R {
        precondition(rows.count <= chunkTokens && rows.lowerBound >= 0 && rows.upperBound <= states.values.rows,
                     "OutputHead: rows \(rows) of \(states.values.rows), chunk of \(chunkTokens)")
        let (hidden, vocabulary) = (config.hiddenSize, config.vocabSize)
        states.values.values.withUnsafeBufferPointer { h in
            weights.norm.withUnsafeBufferPointer { norm in
                LayerMath.rmsNorm(rows: rows.count, width: hidden, x: h.baseAddress! + rows.lowerBound * hidden, ldx: hidden,
                                  weight: norm.baseAddress!, eps: Float(config.rmsNormEps), out: normed.base, ldo: hidden)
            }
        }
        weights.head.values.withUnsafeBufferPointer { head in
            BLAS.sgemm(transposeB: true, m: rows.count, n: vocabulary, k: hidden, a: normed.base, lda: hidden,
                       b: head.baseAddress!, ldb: hidden, c: logits.base, ldc: vocabulary)
        }
        for r in 0..<rows.count { logSumExps[r] = Self.logSumExp(logits.base + r * vocabulary, count: vocabulary) }
        let (base, sums) = (logits.base, logSumExps)
        return try body { row in
            let r = row - rows.lowerBound
            precondition(r >= 0 && r < rows.count, "OutputHead: row \(row) outside \(rows)")
            return TokenLogits(row: row, logits: UnsafeBufferPointer(start: base + r * vocabulary, count: vocabulary), logSumExp: sums[r])
        }
    }

    /// m + log Σ exp(x − m), m = max x: exponentials in float32 (`VectorExp`), summed in Double.
    static func logSumExp(_ x: UnsafePointer<Float>, count: Int) -> Double {
        let maximum = VectorExp.maximum(x, count: count)
        return Double(maximum) + log(VectorExp.sumOfExponentials(x, count: count, subtracting: maximum))
    }
}
