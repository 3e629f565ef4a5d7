import Kernels
import ModelConfiguration

extension LayerWeights {
    /// Checks every shape against `config`, and the presence of exactly the biases and q/k norms
    /// the config asks for.
    /// - Throws: `ModelError.badShape` naming the tensor (`model.layers.{i}.…`), expected and found.
    public func validate(_ config: ModelConfig) throws {
        try Self.check(vector: inputNorm, count: config.hiddenSize, name(.inputNorm))
        try Self.check(vector: postAttentionNorm, count: config.hiddenSize, name(.postAttentionNorm))
        for stage in LayerStage.allCases {
            let shapes = stage.weightShapes(config)
            let hasBias = Self.hasBias(stage, config)
            for (position, linear) in linears(of: stage).enumerated() {
                let module = stage.linearNames[position]
                let shape = shapes[position]
                guard linear.weight.rows == shape.rows, linear.weight.columns == shape.columns else {
                    throw ModelError(.badShape, tensor: Self.tensorName(layer: index, module + ".weight"),
                                     "expected shape [\(shape.rows), \(shape.columns)], found [\(linear.weight.rows), \(linear.weight.columns)]")
                }
                let biasName = Self.tensorName(layer: index, module + ".bias")
                switch (linear.bias, hasBias) {
                case (nil, true): throw ModelError(.missingTensor, tensor: biasName, "the config (\(config.modelType.rawValue)) requires a bias here")
                case (.some, false): throw ModelError(.badShape, tensor: biasName, "the config (\(config.modelType.rawValue)) has no bias here")
                case (.some(let bias), true): try Self.check(vector: bias, count: shape.rows, biasName)
                case (nil, false): break
                }
            }
        }
        for (norm, suffix) in [(qNorm, "self_attn.q_norm.weight"), (kNorm, "self_attn.k_norm.weight")] {
            let tensor = Self.tensorName(layer: index, suffix)
            switch (norm, config.qkNorm) {
            case (nil, true): throw ModelError(.missingTensor, tensor: tensor, "the config (\(config.modelType.rawValue)) requires q/k norms")
            case (.some, false): throw ModelError(.badShape, tensor: tensor, "the config (\(config.modelType.rawValue)) has no q/k norms")
            case (.some(let values), true): try Self.check(vector: values, count: config.headDim, tensor)
            case (nil, false): break
            }
        }
    }

    /// Whether `stage`'s linears carry a bias under `config`.
    static func hasBias(_ stage: LayerStage, _ config: ModelConfig) -> Bool {
        switch stage {
        case .qkv: config.qkvBias
        case .o: config.oProjBias
        case .gateUp, .down: config.mlpBias
        }
    }

    private enum Norm { case inputNorm, postAttentionNorm }

    private func name(_ norm: Norm) -> String {
        Self.tensorName(layer: index, norm == .inputNorm ? "input_layernorm.weight" : "post_attention_layernorm.weight")
    }

    private static func check(vector: [Float], count: Int, _ tensor: String) throws {
        guard vector.count == count else {
            throw ModelError(.badShape, tensor: tensor, "expected shape [\(count)], found [\(vector.count)]")
        }
    }
}
