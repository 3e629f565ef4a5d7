import ModelConfiguration

/// The arithmetic a calibration job cannot avoid: one forward pass of every sample through every
/// layer, and XᵀX of every distinct linear input (the "dense floor" the job benchmark compares
/// wall time against). Solves are not included: they do not grow with the samples.
///
/// Per layer and token, with h = hidden, q = query width, kv = key/value width, m = MLP width:
///   linears   2·(h·(q + 2·kv) + q·h + 3·h·m)          (multiply–add = 2 FLOP)
///   attention 2·2·q·(c + 1)/2 per token at position c   (scores and weighted values; causal)
///   XᵀX       (h² + q² + h² + m²) per token             (syrk: K²·rows; only the upper half is formed,
///                                                      so K² multiply–adds ≈ K²·rows FLOP)
public struct JobCost: Sendable, Equatable {
    public var forwardFLOPs: Double
    public var statisticsFLOPs: Double

    public var totalFLOPs: Double { forwardFLOPs + statisticsFLOPs }

    /// The cost of calibrating `config`'s layers on `samples` sequences of `sequenceLength` tokens.
    public init(config: ModelConfig, samples: Int, sequenceLength: Int) {
        let (h, q, kv, m) = (Double(config.hiddenSize), Double(config.queryWidth), Double(config.keyValueWidth), Double(config.intermediateSize))
        let layers = Double(config.numHiddenLayers)
        let tokens = Double(samples * sequenceLength)
        let linears = 2 * (h * (q + 2 * kv) + q * h + 3 * h * m)
        // Σ_{c=0}^{L−1} (c + 1) = L(L+1)/2 key positions per sequence, 2 products × 2 FLOP each per head dim.
        let positions = Double(sequenceLength) * Double(sequenceLength + 1) / 2
        let attention = 2 * 2 * q * positions * Double(samples)
        forwardFLOPs = layers * (linears * tokens + attention)
        statisticsFLOPs = layers * tokens * (h * h + q * q + h * h + m * m)
    }

    /// Seconds the floor takes at `gflops` GFLOP/s.
    public func seconds(atGFLOPS gflops: Double) -> Double { totalFLOPs / (gflops * 1e9) }
}
