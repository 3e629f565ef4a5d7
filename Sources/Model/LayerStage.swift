import ModelConfiguration

/// The stages of a decoder layer, one per distinct input of its linears, in execution order.
/// Calibration captures statistics of a stage's input, quantizes that stage's linears, and applies
/// them to produce the next stage's input ("true sequential" GPTQ).
///
/// | stage    | input                                   | linears (in `apply` order)   |
/// |----------|-----------------------------------------|------------------------------|
/// | `qkv`    | input_layernorm(h)                      | q_proj, k_proj, v_proj       |
/// | `o`      | attention output                        | o_proj                       |
/// | `gateUp` | post_attention_layernorm(h + o_proj(…)) | gate_proj, up_proj           |
/// | `down`   | silu(gate_proj(x)) · up_proj(x)         | down_proj                    |
public enum LayerStage: Int, CaseIterable, Sendable, Comparable, CustomStringConvertible {
    case qkv, o, gateUp, down

    public static func < (lhs: LayerStage, rhs: LayerStage) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Module names of the stage's linears relative to `model.layers.{i}.`, in `apply` order.
    public var linearNames: [String] {
        switch self {
        case .qkv: ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"]
        case .o: ["self_attn.o_proj"]
        case .gateUp: ["mlp.gate_proj", "mlp.up_proj"]
        case .down: ["mlp.down_proj"]
        }
    }

    /// Input features of the stage's linears (columns of their weights).
    public func inputWidth(_ config: ModelConfig) -> Int {
        switch self {
        case .qkv, .gateUp: config.hiddenSize
        case .o: config.queryWidth
        case .down: config.intermediateSize
        }
    }

    /// (outFeatures, inFeatures) of each linear, in `linearNames` order.
    public func weightShapes(_ config: ModelConfig) -> [(rows: Int, columns: Int)] {
        let width = inputWidth(config)
        switch self {
        case .qkv: return [(config.queryWidth, width), (config.keyValueWidth, width), (config.keyValueWidth, width)]
        case .o: return [(config.hiddenSize, width)]
        case .gateUp: return [(config.intermediateSize, width), (config.intermediateSize, width)]
        case .down: return [(config.hiddenSize, width)]
        }
    }

    /// The next stage, nil after `down`.
    public var next: LayerStage? { LayerStage(rawValue: rawValue + 1) }

    public var description: String {
        switch self {
        case .qkv: "qkv"
        case .o: "o"
        case .gateUp: "gate_up"
        case .down: "down"
        }
    }
}
