import Checkpoint
import Kernels
@testable import Model
import Tensors
import Testing

@Suite("Bad input to the forward pass")
struct BadInputTests {
    @Test("a tensor the config requires but the checkpoint lacks is named", arguments: [
        (FixtureModel.llama, "model.layers.1.mlp.down_proj.weight"),
        (FixtureModel.qwen2, "model.layers.0.self_attn.k_proj.bias"),
        (FixtureModel.qwen3, "model.layers.1.self_attn.q_norm.weight"),
    ])
    func missingTensor(model: FixtureModel, tensor: String) throws {
        let directory = try Fixtures.editedCopy(of: model) { $0[tensor] = nil }
        let source = try CheckpointWeightSource(directory: directory)
        let layer = Int(tensor.split(separator: ".")[2])!
        let error = #expect(throws: ModelError.self) { try source.layer(layer) }
        #expect(error?.code == .missingTensor)
        #expect(error?.tensor == tensor)
        #expect(error?.description.contains(directory) == true, "the message names the checkpoint")
    }

    @Test("a missing lm_head is named unless embeddings are tied")
    func missingHead() throws {
        let directory = try Fixtures.editedCopy(of: .llama) { $0["lm_head.weight"] = nil }
        let error = #expect(throws: ModelError.self) { try CheckpointWeightSource(directory: directory).outputWeights() }
        #expect(error?.tensor == "lm_head.weight")
        // qwen2's fixture ties the head to the embeddings and has no lm_head.weight.
        #expect(try FixtureModel.qwen2.source().outputWeights().head.rows == 101)
    }

    @Test("a tensor of the wrong shape is named with expected and found shapes")
    func wrongShape() throws {
        let name = "model.layers.0.self_attn.o_proj.weight"
        let directory = try Fixtures.editedCopy(of: .mistral) { tensors in
            tensors[name] = Tensor(floats: [Float](repeating: 0.5, count: 64 * 63), shape: [64, 63])
        }
        let error = #expect(throws: ModelError.self) { try CheckpointWeightSource(directory: directory).layer(0) }
        #expect(error?.code == .badShape)
        #expect(error?.tensor == name)
        #expect(error?.message.contains("[64, 64]") == true && error?.message.contains("[64, 63]") == true, "\(String(describing: error))")
    }

    @Test("NaN or Inf in a weight is named with its position", arguments: [Float.nan, Float.infinity, -Float.infinity])
    func nonFinite(value: Float) throws {
        let name = "model.layers.1.mlp.up_proj.weight"
        let directory = try Fixtures.editedCopy(of: .llama) { tensors in
            var values = tensors[name]!.floats()
            values[777] = value
            tensors[name] = Tensor(floats: values, shape: tensors[name]!.shape)
        }
        let source = try CheckpointWeightSource(directory: directory)
        _ = try source.layer(0)
        let error = #expect(throws: ModelError.self) { try source.layer(1) }
        #expect(error?.code == .nonFinite)
        #expect(error?.tensor == name)
        #expect(error?.message.contains("element 777") == true)
    }

    @Test("NaN in an embedding row in use is named")
    func nonFiniteEmbedding() throws {
        let directory = try Fixtures.editedCopy(of: .llama) { tensors in
            var values = tensors["model.embed_tokens.weight"]!.floats()
            values[5 * 64 + 3] = .nan
            tensors["model.embed_tokens.weight"] = Tensor(floats: values, shape: [101, 64])
        }
        let source = try CheckpointWeightSource(directory: directory)
        #expect(try source.embeddings(of: [4, 6]).rows == 2, "rows without NaN are fine")
        let error = #expect(throws: ModelError.self) { try source.embeddings(of: [4, 5]) }
        #expect(error?.tensor == "model.embed_tokens.weight")
    }

    @Test("a sequence longer than max_position_embeddings is refused, naming the limit")
    func tooLong() throws {
        let source = try FixtureModel.llama.source()
        let sequences: [ArraySlice<Int32>] = [[1, 2, 3], ArraySlice((0..<33).map { Int32($0 % 101) })]
        let error = #expect(throws: ModelError.self) { try LayerStreamingRunner(source: source, sequences: sequences) }
        #expect(error?.code == .sequenceTooLong)
        #expect(error?.message.contains("max_position_embeddings of 32") == true, "\(String(describing: error))")
        let states = try HiddenStates(batch: SequenceBatch(lengths: [33]), values: Matrix(rows: 33, columns: 64))
        #expect(throws: ModelError.self) { try LayerExecutor(config: source.config, states: states) }
        // 32 tokens are fine.
        _ = try LayerStreamingRunner(source: source, sequences: [ArraySlice((0..<32).map { Int32($0) })])
    }

    @Test("tokens outside the vocabulary, empty sequences and unusable windows are refused")
    func badTokens() throws {
        let source = try FixtureModel.llama.source()
        #expect(throws: ModelError.self) { try source.embeddings(of: [3, 101]) }
        #expect(throws: ModelError.self) { try source.embeddings(of: [-1]) }
        #expect(throws: ModelError.self) { try SequenceBatch(lengths: [3, 0]) }
        #expect(throws: ModelError.self) { try EvaluationWindows(tokens: [1, 2, 3], length: 4) }
        #expect(throws: ModelError.self) { try EvaluationWindows(tokens: [1, 2, 3], length: 1) }
        #expect(throws: ModelError.self) { try source.layer(2) }
    }

    @Test("weights that do not fit the config are refused by the executor, naming the tensor")
    func executorValidation() throws {
        let source = try FixtureModel.qwen2.source()
        let executor = try LayerExecutor(config: source.config, states: try .embedding([[1, 2, 3]], source))
        var weights = try source.layer(0)
        weights.q.bias = nil
        let error = #expect(throws: ModelError.self) { try executor.forward(weights) }
        #expect(error?.tensor == "model.layers.0.self_attn.q_proj.bias")
        weights = try source.layer(0)
        weights.postAttentionNorm.removeLast()
        #expect(throws: ModelError.self) { try executor.begin(weights) }
    }
}
