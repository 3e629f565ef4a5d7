import Checkpoint
import Foundation
import Kernels
@testable import Model
import ModelConfiguration
import Testing

@Suite("Decoder forward pass against the NumPy reference and transformers")
struct ForwardReferenceTests {
    /// Chunk sizes: 512 puts both sequences (7 and 13 tokens) in one group and one piece; 8 makes
    /// a group per sequence and cuts the 13-token one into pieces of 8 and 5.
    @Test("every layer's stage inputs and outputs and the logits match the reference",
          arguments: FixtureModel.allCases, [512, 8])
    func matchesReference(model: FixtureModel, chunkTokens: Int) throws {
        let source = try model.source()
        let expected = try model.expected()
        let sequences = try expected.sequences()
        let states = try HiddenStates.embedding(sequences, source)
        try expectClose(states.values, try expected.matrix("hidden.0"), "\(model) embeddings")
        let executor = try LayerExecutor(config: source.config, states: states, options: ExecutionOptions(chunkTokens: chunkTokens, attentionBlockRows: 4))
        for layer in 0..<source.config.numHiddenLayers {
            let capture = StageCapture(tokens: states.batch.tokenCount)
            try executor.forward(try source.layer(layer)) { capture.record($0) }
            for stage in LayerStage.allCases {
                try expectClose(try #require(capture.inputs[stage]), try expected.matrix("layers.\(layer).\(stage)"), "\(model) layer \(layer) \(stage) input")
            }
            try expectClose(executor.states.values, try expected.matrix("hidden.\(layer + 1)"), "\(model) layer \(layer) output")
        }
        let logits = try Self.logits(executor.states, source)
        try expectClose(logits, try expected.matrix("logits"), "\(model) logits vs NumPy")
        try expectClose(logits, try model.transformersLogits(), "\(model) logits vs transformers")
    }

    @Test("the streaming runner gives the reference's final hidden states", arguments: FixtureModel.allCases)
    func streamingRunner(model: FixtureModel) throws {
        let source = try model.source()
        let expected = try model.expected()
        let runner = try LayerStreamingRunner(source: source, sequences: try expected.sequences())
        try runner.run(through: 1)
        try expectClose(runner.states.values, try expected.matrix("hidden.1"), "\(model) after layer 0")
        try runner.run()
        #expect(runner.nextLayer == source.config.numHiddenLayers)
        try expectClose(runner.states.values, try expected.matrix("hidden.\(source.config.numHiddenLayers)"), "\(model) output")
        #expect(runner.largestLayerBytes == (try source.layer(0)).byteCount)
    }

    @Test("RoPE frequencies follow Llama 3.1's scaling: kept, interpolated and divided bands")
    func llama3Frequencies() throws {
        let config = try FixtureModel.llamaRopeLlama3.source().config
        let plain = (0..<8).map { 1 / pow(10000.0, Double(2 * $0) / 16) }
        let scaled = RotaryEmbedding.frequencies(config)
        // Wavelengths 2π/f: 6.3 < 64/4 kept; 20 and 63 between 16 and 64 interpolated; ≥ 199 divided by 8.
        #expect(scaled[0] == plain[0])
        for i in 1...2 {
            let wavelength: Double = 2 * Double.pi / plain[i]
            let smooth: Double = (64 / wavelength - 1) / 3
            let interpolated: Double = (1 - smooth) * plain[i] / 8 + smooth * plain[i]
            #expect(abs(scaled[i] - interpolated) < 1e-15)
        }
        for i in 3..<8 { #expect(scaled[i] == plain[i] / 8) }
    }

    /// The logits of every row of `states`.
    static func logits(_ states: HiddenStates, _ source: any WeightSource) throws -> Matrix {
        let head = try OutputHead(weights: source.outputWeights(), config: source.config, chunkTokens: 5)
        var logits = Matrix(rows: states.values.rows, columns: source.config.vocabSize)
        head.forEachToken(of: states, rows: 0 ..< states.values.rows) { token in
            for j in 0..<token.logits.count { logits[token.row, j] = token.logits[j] }
        }
        return logits
    }
}

/// Expects `actual` within `Tolerance.forward` of `expected` (normalized max error).
func expectClose(_ actual: Matrix, _ expected: Matrix, _ what: String, tolerance: Double = Tolerance.forward,
                 sourceLocation: SourceLocation = #_sourceLocation) throws {
    try #require(actual.rows == expected.rows && actual.columns == expected.columns,
                 "\(what): shape \(actual.rows)×\(actual.columns), expected \(expected.rows)×\(expected.columns)", sourceLocation: sourceLocation)
    let error = Tolerance.normalizedError(actual.values, expected.values)
    #expect(error < tolerance, "\(what): normalized error \(error) ≥ \(tolerance)", sourceLocation: sourceLocation)
}
