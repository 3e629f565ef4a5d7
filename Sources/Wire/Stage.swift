/// The stages of a decoder layer, one per distinct linear input (values as in calibrate.proto).
public enum Stage: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    /// q_proj, k_proj, v_proj ← input_layernorm(x).
    case qkv = 1
    /// o_proj ← attention output.
    case o = 2
    /// gate_proj, up_proj ← post_attention_layernorm(h).
    case gateUp = 3
    /// down_proj ← silu(gate) · up.
    case down = 4

    public var description: String {
        switch self {
        case .qkv: "qkv"
        case .o: "o"
        case .gateUp: "gate_up"
        case .down: "down"
        }
    }
}
