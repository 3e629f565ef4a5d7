#if canImport(Glibc)
import Glibc
#endif

/// Negative log-likelihood summed over predicted tokens, and what follows from it.
public struct PerplexityResult: Sendable, Equatable {
    public var windows = 0
    public var predictedTokens = 0
    /// Σ −log P(token | prefix), in nats.
    public var totalNegativeLogLikelihood = 0.0

    public init() {}

    /// Mean negative log-likelihood per predicted token (nats).
    public var meanNegativeLogLikelihood: Double { totalNegativeLogLikelihood / Double(predictedTokens) }

    /// exp(mean NLL).
    public var perplexity: Double { exp(meanNegativeLogLikelihood) }

    mutating func add(negativeLogLikelihood: Double) {
        totalNegativeLogLikelihood += negativeLogLikelihood
        predictedTokens += 1
    }
}

/// Two models on the same windows: KL divergence of their next-token distributions and both
/// perplexities.
public struct Comparison: Sendable, Equatable {
    public var reference = PerplexityResult()
    public var candidate = PerplexityResult()
    /// Σ KL(P_reference ‖ P_candidate) over predicted positions (nats).
    public var totalDivergence = 0.0
    /// The largest KL of one position.
    public var maxDivergence = 0.0

    public init() {}

    /// Mean KL divergence per predicted position (nats).
    public var meanDivergence: Double { totalDivergence / Double(reference.predictedTokens) }

    mutating func add(divergence: Double, referenceNLL: Double, candidateNLL: Double) {
        totalDivergence += divergence
        maxDivergence = max(maxDivergence, divergence)
        reference.add(negativeLogLikelihood: referenceNLL)
        candidate.add(negativeLogLikelihood: candidateNLL)
    }
}
