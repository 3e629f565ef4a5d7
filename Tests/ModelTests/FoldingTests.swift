import Checkpoint
import Foundation
import Kernels
@testable import Model
import ModelConfiguration
import TestSupport
import Testing

/// Folding per-channel scales (AWQ, SmoothQuant) is an equivalent transformation, and a layer can
/// resume at the stages whose input depends on the hidden states alone.
@Suite("Folding and resuming")
struct FoldingTests {
    /// Positive scales spanning two orders of magnitude, deterministic.
    static func scales(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { index in
            let exponent: Double = Double((index * 37 + seed * 11) % 97) / 48.0 - 1
            return Float(pow(10.0, exponent))
        }
    }

    @Test("a layer with scales folded into norms, v/up rows and the linears computes the same output",
          arguments: FixtureModel.allCases)
    func foldIsEquivalent(model: FixtureModel) throws {
        let source = try model.source()
        let config = source.config
        let sequences = try model.expected().sequences()
        let plain = try LayerExecutor(config: config, states: try .embedding(sequences, source))
        let folded = try LayerExecutor(config: config, states: try .embedding(sequences, source))
        for layer in 0..<config.numHiddenLayers {
            let weights = try source.layer(layer)
            let fold = LayerFold(
                attentionInput: Self.scales(config.hiddenSize, seed: 1),
                attentionOutput: config.keyValueWidth == config.queryWidth ? Self.scales(config.queryWidth, seed: 2) : nil,
                mlpInput: Self.scales(config.hiddenSize, seed: 3), mlpOutput: Self.scales(config.intermediateSize, seed: 4))
            try plain.forward(weights)
            try folded.forward(try weights.folded(fold))
        }
        // Scales up to 10: each product term is rounded once more on each side of the fold, over
        // two layers of 64–128-term dot products; a wrong fold moves outputs by O(1).
        let error = Tolerance.normalizedError(folded.states.values.values, plain.states.values.values)
        #expect(error < 1e-5, "\(model): normalized error \(error)")
    }

    @Test("v → o folding alone is equivalent on a model with as many kv heads as heads")
    func valueOutputFold() throws {
        // Written by Tests/Reference/make_awq_search_fixture.py; every other fixture uses GQA.
        let source = try CheckpointWeightSource(directory: Repository.root + "/Tests/CoordinatorCoreTests/Fixtures/llama_mha")
        let config = source.config
        #expect(config.keyValueWidth == config.queryWidth)
        let tokens: [Int32] = (0..<20).map { Int32(($0 * 37) % config.vocabSize) }
        let sequences = [tokens[0..<7], tokens[7..<20]]
        let plain = try LayerExecutor(config: config, states: try .embedding(sequences, source))
        let folded = try LayerExecutor(config: config, states: try .embedding(sequences, source))
        for layer in 0..<config.numHiddenLayers {
            let weights = try source.layer(layer)
            let fold = LayerFold(attentionOutput: Self.scales(config.queryWidth, seed: 2 + layer))
            let changed = try weights.folded(fold)
            #expect(changed.v.weight.values != weights.v.weight.values && changed.o.weight.values != weights.o.weight.values)
            try plain.forward(weights)
            try folded.forward(changed)
        }
        // As above: one more rounding per product on each side; a wrong fold moves outputs by O(1).
        let error = Tolerance.normalizedError(folded.states.values.values, plain.states.values.values)
        #expect(error < 1e-5, "normalized error \(error)")
    }

    @Test("v → o folding is refused under grouped-query attention, naming the widths")
    func groupedQueryRefused() throws {
        let weights = try FixtureModel.llama.source().layer(0)
        let error = #expect(throws: ModelError.self) { try weights.folded(LayerFold(attentionOutput: Self.scales(64, seed: 0))) }
        #expect(error?.description.contains("v_proj has 32 outputs but o_proj 64 inputs") == true, "\(String(describing: error))")
    }

    @Test("resuming at gate_up after an unchanged attention gives the same stage input, bit for bit")
    func resumeAtGateUp() throws {
        let source = try FixtureModel.qwen3.source()
        let sequences = try FixtureModel.qwen3.expected().sequences()
        let executor = try LayerExecutor(config: source.config, states: try .embedding(sequences, source))
        let weights = try source.layer(0)
        try executor.begin(weights)
        try executor.apply(.qkv)
        try executor.apply(.o)
        let continued = try executor.withStageInput(.gateUp) { Array($0.values) }
        try executor.resume(weights, at: .gateUp)
        #expect(try executor.withStageInput(.gateUp) { Array($0.values) } == continued)
        #expect(throws: ModelError.self) { try executor.resume(weights, at: .down) }
    }
}
