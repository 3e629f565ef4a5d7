import Checkpoint
import Kernels
@testable import Model
import Tensors
import Testing

/// Finite weights can still overflow float32; nothing that does is reported as a result.
@Suite("Results that are not finite are errors")
struct NonFiniteResultTests {
    /// The llama fixture with one layer's weights scaled to `value`'s magnitude (finite floats).
    static func overflowing(_ name: String, to value: Float) throws -> CheckpointWeightSource {
        let directory = try Fixtures.editedCopy(of: .llama) { tensors in
            let shape = tensors[name]!.shape
            tensors[name] = Tensor(floats: [Float](repeating: value, count: shape.reduce(1, *)), shape: shape)
        }
        return try CheckpointWeightSource(directory: directory)
    }

    @Test("weights of 3.4e38 overflow the layer they are in: the error names that layer, not a NaN perplexity")
    func hugeWeights() throws {
        let source = try Self.overflowing("model.layers.1.mlp.up_proj.weight", to: 3.4e38)
        let windows = try EvaluationWindows(tokens: (0..<40).map { Int32($0 % 100) }, length: 8)
        let error = #expect(throws: ModelError.self) { try Evaluation.perplexity(source: source, windows: windows) }
        #expect(error?.code == .nonFinite)
        #expect(error?.message.contains("the output of layer 1") == true, "\(String(describing: error))")
        // A whole-model comparison stops at the same layer.
        let reference = try FixtureModel.llama.source()
        #expect(throws: ModelError.self) { try Evaluation.compare(reference: reference, candidate: source, windows: windows) }
    }

    @Test("an output head that overflows the logits gives an error, not a perplexity of inf or nan")
    func overflowingHead() throws {
        let source = try Self.overflowing("lm_head.weight", to: 3e38)
        let windows = try EvaluationWindows(tokens: (0..<16).map { Int32($0 % 100) }, length: 8)
        let error = #expect(throws: ModelError.self) { try Evaluation.perplexity(source: source, windows: windows) }
        #expect(error?.code == .nonFinite)
        #expect(error?.message.contains("perplexity is") == true, "\(String(describing: error))")
    }

    @Test("stage-wise execution checks a layer's output too")
    func stageWise() throws {
        let source = try Self.overflowing("model.layers.0.mlp.down_proj.weight", to: 3.4e38)
        let sequences: [ArraySlice<Int32>] = [[1, 2, 3, 4, 5][...]]
        let executor = try LayerExecutor(config: source.config, states: HiddenStates.embedding(sequences, source))
        try executor.begin(try source.layer(0))
        for stage in LayerStage.allCases.dropLast() { try executor.apply(stage) }
        let error = #expect(throws: ModelError.self) { try executor.apply(LayerStage.down) }
        #expect(error?.code == .nonFinite)
        #expect(error?.message.contains("layer 0") == true && error?.message.contains("sequence 0") == true, "\(String(describing: error))")
    }

    @Test("the layout check names a missing tensor, a wrong dtype or shape before any weight is read")
    func layout() throws {
        let missing = try Fixtures.editedCopy(of: .qwen3) { $0["model.layers.1.self_attn.k_norm.weight"] = nil }
        let error = #expect(throws: ModelError.self) { try CheckpointWeightSource(directory: missing).checkLayout() }
        #expect(error?.code == .missingTensor && error?.tensor == "model.layers.1.self_attn.k_norm.weight")
        let integer = try Fixtures.editedCopy(of: .llama) { $0["model.norm.weight"] = .integers([Int32](repeating: 1, count: 64), dtype: .i32, shape: [64]) }
        #expect((#expect(throws: ModelError.self) { try CheckpointWeightSource(directory: integer).checkLayout() })?.code == .badDType)
        let shape = try Fixtures.editedCopy(of: .llama) { $0["lm_head.weight"] = Tensor(floats: [Float](repeating: 0, count: 64 * 10), shape: [10, 64]) }
        let wrong = #expect(throws: ModelError.self) { try CheckpointWeightSource(directory: shape).checkLayout() }
        #expect(wrong?.code == .badShape && wrong?.tensor == "lm_head.weight")
        for model in FixtureModel.allCases { try model.source().checkLayout() }
    }
}
