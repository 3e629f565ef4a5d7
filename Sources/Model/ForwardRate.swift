import Foundation
import Kernels
import ModelConfiguration
import Tensors

/// The forward pass's cost model and its rate measured on its own code.
///
/// `flops` counts what a stage's `apply` computes: 2·rows·columns per token for every linear and,
/// for `.qkv`, causal attention's two products (QKᵀ and PV: 4·queryWidth·(L + 1)/2 per token of a
/// sequence of L). `measure` runs a random layer stage by stage exactly as a calibration worker
/// does (`LayerExecutor` with one sequence per product, pieces of `statisticsChunk` rows), so the
/// rate it returns includes attention, RoPE, the norms and the copies between stages — what a
/// bare sgemm probe misses and what made `coordinator plan` over-plan the apply phase.
public enum ForwardRate {
    /// Flops of `stage` on `tokens` tokens in sequences of `sequenceLength` tokens.
    public static func flops(_ stage: LayerStage, config: ModelConfig, tokens: Double, sequenceLength: Double) -> Double {
        let linears = stage.weightShapes(config).reduce(0.0) { $0 + 2 * Double($1.rows) * Double($1.columns) } * tokens
        return stage == .qkv ? linears + 4 * Double(config.queryWidth) * (sequenceLength + 1) / 2 * tokens : linears
    }

    /// Flops of a whole layer (every stage).
    public static func layerFlops(config: ModelConfig, tokens: Double, sequenceLength: Double) -> Double {
        LayerStage.allCases.reduce(0) { $0 + flops($1, config: config, tokens: tokens, sequenceLength: sequenceLength) }
    }

    /// GFLOP/s of a calibration worker's stage-by-stage forward on `config`'s shapes, each width
    /// capped at `widthCap` (wider models run at the capped shapes' rate: sgemm is flat past a
    /// few thousand), on sequences of `sequenceLength` (capped at 2048) making about `tokens`
    /// tokens, with the BLAS thread count set by the caller. The fastest of three runs.
    /// - Throws: `ModelError` only if the capped shapes were inconsistent (they are not by construction).
    public static func measure(config: ModelConfig, sequenceLength: Int, tokens: Int = 1024, widthCap: Int = 4096) throws -> Double {
        let probe = try cappedConfig(config, widthCap: widthCap)
        let length = max(1, min(sequenceLength, 2048))
        let lengths = [Int](repeating: length, count: max(1, tokens / length))
        let batch = try SequenceBatch(lengths: lengths)
        var seed: UInt64 = 10
        func random(_ count: Int, scale: Float) -> [Float] {
            seed += 1
            return KernelRates.randomValues(count, seed: seed).map { $0 * scale }
        }
        func linear(_ rows: Int, _ columns: Int) -> Linear {
            Linear(weight: Matrix(rows: rows, columns: columns, values: random(rows * columns, scale: Float(3.0 / Double(columns)).squareRoot())))
        }
        let (h, q, kv, m) = (probe.hiddenSize, probe.queryWidth, probe.keyValueWidth, probe.intermediateSize)
        let ones = [Float](repeating: 1, count: h)
        let weights = LayerWeights(index: 0, inputNorm: ones, q: linear(q, h), k: linear(kv, h), v: linear(kv, h),
                                   o: linear(h, q), postAttentionNorm: ones, gate: linear(m, h), up: linear(m, h), down: linear(h, m))
        let states = try HiddenStates(batch: batch, values: Matrix(rows: batch.tokenCount, columns: h, values: random(batch.tokenCount * h, scale: 1)))
        let executor = try LayerExecutor(config: probe, states: states, options: ExecutionOptions(chunkTokens: 512, packSequences: false))
        var best = Double.infinity
        for _ in 0..<3 {
            executor.restore(states)
            let start = ContinuousClock.now
            try executor.begin(weights)
            for stage in LayerStage.allCases { try executor.apply(stage) }
            let d = ContinuousClock.now - start
            best = min(best, max(d.seconds, 1e-9))
        }
        return layerFlops(config: probe, tokens: Double(batch.tokenCount), sequenceLength: Double(length)) / best / 1e9
    }

    /// `config` with its widths capped at `widthCap`: head_dim kept, heads reduced keeping the
    /// grouped-query ratio, hidden and intermediate sizes capped.
    public static func cappedConfig(_ config: ModelConfig, widthCap: Int) throws -> ModelConfig {
        let group = max(1, config.numAttentionHeads / config.numKeyValueHeads)
        let fitting = max(1, widthCap / config.headDim / group) * group
        let heads = min(config.numAttentionHeads, fitting)
        let fields: [String: Any] = [
            "model_type": "llama", "hidden_act": "silu", "vocab_size": 16,
            "hidden_size": min(config.hiddenSize, widthCap), "intermediate_size": min(config.intermediateSize, widthCap),
            "num_hidden_layers": 1, "num_attention_heads": heads, "num_key_value_heads": heads / group, "head_dim": config.headDim,
            "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        ]
        return try ModelConfig(parsing: try JSONSerialization.data(withJSONObject: fields), file: "the forward probe's config")
    }
}
