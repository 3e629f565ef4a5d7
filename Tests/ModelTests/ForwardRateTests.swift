import Foundation
import Model
import ModelConfiguration
import Testing

@Suite("the forward pass's cost model and probe")
struct ForwardRateTests {
    static func config(hidden: Int, intermediate: Int, heads: Int, keyValueHeads: Int, headDim: Int) throws -> ModelConfig {
        let fields: [String: Any] = [
            "model_type": "llama", "vocab_size": 32, "hidden_size": hidden, "intermediate_size": intermediate,
            "num_hidden_layers": 2, "num_attention_heads": heads, "num_key_value_heads": keyValueHeads, "head_dim": headDim,
        ]
        return try ModelConfig(parsing: try JSONSerialization.data(withJSONObject: fields), file: "test config")
    }

    @Test("flops per stage: 2·out·in per token for every linear, and causal attention's QKᵀ and PV in the qkv stage")
    func flops() throws {
        // hidden 64, 4 heads of 16 (queryWidth 64), 2 key-value heads (keyValueWidth 32), MLP 96.
        let config = try Self.config(hidden: 64, intermediate: 96, heads: 4, keyValueHeads: 2, headDim: 16)
        let (t, l) = (10.0, 5.0)
        // q 64×64, k and v 32×64; attention: each token of a 5-token sequence attends to (5+1)/2
        // positions on average, 2·64 flops each for QKᵀ and again for PV.
        #expect(ForwardRate.flops(.qkv, config: config, tokens: t, sequenceLength: l) == t * (2 * 64 * 64 + 2 * 2 * 32 * 64) + t * 4 * 64 * 3)
        #expect(ForwardRate.flops(.o, config: config, tokens: t, sequenceLength: l) == t * 2 * 64 * 64)
        #expect(ForwardRate.flops(.gateUp, config: config, tokens: t, sequenceLength: l) == t * 2 * 2 * 96 * 64)
        #expect(ForwardRate.flops(.down, config: config, tokens: t, sequenceLength: l) == t * 2 * 64 * 96)
        let stages = LayerStage.allCases.map { ForwardRate.flops($0, config: config, tokens: t, sequenceLength: l) }
        #expect(ForwardRate.layerFlops(config: config, tokens: t, sequenceLength: l) == stages.reduce(0, +))
    }

    @Test("the probe runs a layer of the model's shapes (capped) and gives a finite rate; a 70B-shaped config is probed at capped widths with its head_dim and grouping")
    func probe() throws {
        let small = try Self.config(hidden: 64, intermediate: 96, heads: 4, keyValueHeads: 2, headDim: 16)
        let rate = try ForwardRate.measure(config: small, sequenceLength: 32, tokens: 64)
        #expect(rate.isFinite && rate > 0.01, "\(rate) GFLOP/s")
        let wide = try Self.config(hidden: 8192, intermediate: 28672, heads: 64, keyValueHeads: 8, headDim: 128)
        let capped = try ForwardRate.cappedConfig(wide, widthCap: 512)
        #expect(capped.hiddenSize == 512 && capped.intermediateSize == 512 && capped.headDim == 128)
        #expect(capped.numAttentionHeads == 8 && capped.numKeyValueHeads == 1, "\(capped.numAttentionHeads)/\(capped.numKeyValueHeads)")
        let narrow = try ForwardRate.cappedConfig(small, widthCap: 4096)
        #expect(narrow.hiddenSize == 64 && narrow.intermediateSize == 96 && narrow.numAttentionHeads == 4 && narrow.numKeyValueHeads == 2)
    }
}
