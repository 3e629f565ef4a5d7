import Checkpoint
import Kernels
@testable import Model
import ModelConfiguration
import Testing

@Suite("Stage-by-stage execution")
struct StageExecutionTests {
    /// Runs every layer of `model` once whole and once stage by stage (with `weights(layer,
    /// stage)` replacing the stage's linears when not nil in the staged run and in a copy of the
    /// layer for the whole run), capturing the stage inputs of both.
    static func compare(_ model: FixtureModel, chunkTokens: Int,
                        replacement: ((LayerWeights, LayerStage) -> [Matrix])? = nil) throws -> [(String, Matrix, Matrix)] {
        let source = try model.source()
        let sequences = try model.expected().sequences()
        let options = ExecutionOptions(chunkTokens: chunkTokens, attentionBlockRows: 3)
        let whole = try LayerExecutor(config: source.config, states: try .embedding(sequences, source), options: options)
        let staged = try LayerExecutor(config: source.config, states: try .embedding(sequences, source), options: options)
        var pairs: [(String, Matrix, Matrix)] = []
        for layer in 0..<source.config.numHiddenLayers {
            let original = try source.layer(layer)
            var modified = original
            for stage in LayerStage.allCases {
                if let replacement { modified.replaceWeights(of: stage, with: replacement(original, stage)) }
            }
            let capture = StageCapture(tokens: whole.batch.tokenCount)
            try whole.forward(modified) { capture.record($0) }
            try staged.begin(original)
            for stage in LayerStage.allCases {
                #expect(staged.nextStage == stage)
                let input = try staged.withStageInput(stage) { Matrix(rows: $0.rows, columns: $0.width, values: Array($0.values)) }
                pairs.append(("layer \(layer) \(stage) input", input, try #require(capture.inputs[stage])))
                try staged.apply(stage, weights: replacement.map { $0(original, stage) })
            }
            #expect(staged.nextStage == nil)
            pairs.append(("layer \(layer) output", staged.states.values, whole.states.values))
        }
        return pairs
    }

    /// Both paths cut the batch by the same plan and run every product in the same shape on the
    /// same values, so they agree bit for bit (OpenBLAS's result depends on shapes and thread
    /// count, not on where the operands lie).
    @Test("with the original weights, stage inputs and layer outputs equal the whole-layer forward bit for bit",
          arguments: FixtureModel.allCases, [512, 8, 5])
    func originalWeights(model: FixtureModel, chunkTokens: Int) throws {
        for (what, staged, whole) in try Self.compare(model, chunkTokens: chunkTokens) {
            let identical = staged.values == whole.values
            #expect(identical, "\(model) chunk \(chunkTokens): \(what) differs by \(Tolerance.normalizedError(staged.values, whole.values))")
        }
    }

    @Test("with replaced weights, each stage uses them: equal to a whole-layer forward of the modified layer",
          arguments: FixtureModel.allCases)
    func replacedWeights(model: FixtureModel) throws {
        // A stand-in for dequantized weights: every value rounded to a multiple of 1/8.
        let rounded: (LayerWeights, LayerStage) -> [Matrix] = { weights, stage in
            weights.linears(of: stage).map { linear in
                var matrix = linear.weight
                for i in matrix.values.indices { matrix.values[i] = (matrix.values[i] * 8).rounded() / 8 }
                return matrix
            }
        }
        let pairs = try Self.compare(model, chunkTokens: 8, replacement: rounded)
        for (what, staged, whole) in pairs {
            let identical = staged.values == whole.values
            #expect(identical, "\(model): \(what) differs by \(Tolerance.normalizedError(staged.values, whole.values))")
        }
        let original = try Self.compare(model, chunkTokens: 8)
        let changed = pairs.last!.1.values != original.last!.1.values
        #expect(changed, "the replacement changed the output")
    }

    @Test("stages out of order, a second begin and wrong replacement shapes are refused")
    func order() throws {
        let source = try FixtureModel.qwen3.source()
        let sequences = try FixtureModel.qwen3.expected().sequences()
        let executor = try LayerExecutor(config: source.config, states: try .embedding(sequences, source))
        let weights = try source.layer(0)
        #expect(throws: ModelError.self) { try executor.apply(.qkv) }
        #expect(throws: ModelError.self) { try executor.withStageInput(.qkv) { _ in } }
        try executor.begin(weights)
        #expect(throws: ModelError.self) { try executor.apply(.o) }
        #expect(throws: ModelError.self) { try executor.begin(weights) }
        #expect(throws: ModelError.self) { try executor.forward(weights) }
        let error = #expect(throws: ModelError.self) {
            try executor.apply(.qkv, weights: [weights.q.weight, weights.k.weight, weights.q.weight])
        }
        #expect(error?.tensor == "model.layers.0.self_attn.v_proj.weight")
        #expect(throws: ModelError.self) { try executor.apply(.qkv, weights: [weights.q.weight]) }
        #expect(executor.nextStage == .qkv, "a refused apply changes nothing")
        try executor.apply(.qkv)
        #expect(executor.nextStage == .o)
    }

    @Test("stage-wise memory: one buffer of tokens × max(hidden, q width, intermediate)")
    func stageBufferSize() throws {
        let source = try FixtureModel.qwen3.source()
        let executor = try LayerExecutor(config: source.config, states: try .embedding(try FixtureModel.qwen3.expected().sequences(), source))
        #expect(executor.stageBufferBytes == 20 * 128 * 4)
    }
}
