import Kernels

/// A linear layer y = x·Wᵀ + b in float32, as Hugging Face stores it.
public struct Linear: Sendable {
    /// outFeatures × inFeatures, row-major.
    public var weight: Matrix
    /// outFeatures values, or nil for a linear without bias.
    public var bias: [Float]?
    /// The grid its input is quantized to per token before the product (int8 W8A8 checkpoints:
    /// symmetric, dynamic, as compressed-tensors' `input_activations` prescribe), or nil.
    public var inputQuantization: QuantizationScheme?

    public init(weight: Matrix, bias: [Float]? = nil, inputQuantization: QuantizationScheme? = nil) {
        self.weight = weight
        self.bias = bias
        self.inputQuantization = inputQuantization
    }
}

/// The float32 weights of one decoder layer (Llama, Mistral, Qwen2, Qwen3).
public struct LayerWeights: Sendable {
    /// Layer index in the model (for error messages and tensor names).
    public var index: Int
    /// `input_layernorm.weight`, hidden values.
    public var inputNorm: [Float]
    public var q: Linear
    public var k: Linear
    public var v: Linear
    /// Qwen3's per-head RMSNorm weights of q and k (head_dim values), nil for the others.
    public var qNorm: [Float]?
    public var kNorm: [Float]?
    public var o: Linear
    /// `post_attention_layernorm.weight`, hidden values.
    public var postAttentionNorm: [Float]
    public var gate: Linear
    public var up: Linear
    public var down: Linear

    public init(index: Int, inputNorm: [Float], q: Linear, k: Linear, v: Linear, qNorm: [Float]? = nil, kNorm: [Float]? = nil,
                o: Linear, postAttentionNorm: [Float], gate: Linear, up: Linear, down: Linear) {
        self.index = index
        self.inputNorm = inputNorm
        self.q = q
        self.k = k
        self.v = v
        self.qNorm = qNorm
        self.kNorm = kNorm
        self.o = o
        self.postAttentionNorm = postAttentionNorm
        self.gate = gate
        self.up = up
        self.down = down
    }

    /// The linears of `stage`, in `LayerStage.linearNames` order.
    public func linears(of stage: LayerStage) -> [Linear] {
        switch stage {
        case .qkv: [q, k, v]
        case .o: [o]
        case .gateUp: [gate, up]
        case .down: [down]
        }
    }

    /// Replaces the weight matrices of `stage`'s linears (biases and norms stay).
    /// - Precondition: `weights.count` is the stage's number of linears; shapes are checked by
    ///   `validate(_:)`.
    public mutating func replaceWeights(of stage: LayerStage, with weights: [Matrix]) {
        precondition(weights.count == stage.linearNames.count, "stage \(stage) has \(stage.linearNames.count) linears, got \(weights.count) weights")
        switch stage {
        case .qkv: (q.weight, k.weight, v.weight) = (weights[0], weights[1], weights[2])
        case .o: o.weight = weights[0]
        case .gateUp: (gate.weight, up.weight) = (weights[0], weights[1])
        case .down: down.weight = weights[0]
        }
    }

    /// Bytes of all the float32 values held.
    public var byteCount: Int {
        var count = inputNorm.count + postAttentionNorm.count + (qNorm?.count ?? 0) + (kNorm?.count ?? 0)
        for linear in [q, k, v, o, gate, up, down] { count += linear.weight.values.count + (linear.bias?.count ?? 0) }
        return count * MemoryLayout<Float>.size
    }

    /// The checkpoint name of a tensor of this layer, e.g. `model.layers.3.self_attn.q_proj.weight`.
    public static func tensorName(layer: Int, _ suffix: String) -> String { "model.layers.\(layer).\(suffix)" }
}
