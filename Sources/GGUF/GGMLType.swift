/// Tensor element types of GGUF files (ggml's `ggml_type`), with their block layouts.
///
/// Quantized types store blocks of `blockSize` values in `blockBytes` bytes (ggml-common.h):
///   Q4_0  {f16 d; u8 qs[16]}                          18 B / 32
///   Q4_1  {f16 d, m; u8 qs[16]}                       20 B / 32
///   Q5_0  {f16 d; u8 qh[4]; u8 qs[16]}                22 B / 32
///   Q5_1  {f16 d, m; u8 qh[4]; u8 qs[16]}             24 B / 32
///   Q8_0  {f16 d; i8 qs[32]}                          34 B / 32
///   Q4_K  {f16 d, dmin; u8 scales[12]; u8 qs[128]}    144 B / 256
///   Q5_K  {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}  176 B / 256
///   Q6_K  {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}        210 B / 256
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8
    case q4_K = 12, q5_K = 13, q6_K = 14
    case bf16 = 30

    /// Values per block (1 for plain types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: 32
        case .q4_K, .q5_K, .q6_K: 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q4_0: 18
        case .q4_1: 20
        case .q5_0: 22
        case .q5_1: 24
        case .q8_0: 34
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        }
    }

    /// The name ggml gives the type.
    public var name: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        }
    }
}
