/// Element types of tensors, named as safetensors names them.
///
/// The raw value is the safetensors header spelling (`"F32"`, `"BF16"`, …), so a header's
/// `dtype` field maps onto a case with `DType(rawValue:)`.
public enum DType: String, Sendable, CaseIterable, Hashable {
    case f32 = "F32"
    /// IEEE binary64. Used for float64 sums (activation statistics) that must survive a round
    /// trip through `[String: Tensor]` exactly; converting to Float rounds to nearest.
    case f64 = "F64"
    case f16 = "F16"
    case bf16 = "BF16"
    /// 8-bit float, 4 exponent bits, 3 mantissa bits, bias 7, no infinities (the "fn" variant, max 448).
    case f8e4m3 = "F8_E4M3"
    /// 8-bit float, 5 exponent bits, 2 mantissa bits, bias 15, IEEE-style infinities (max 57344).
    case f8e5m2 = "F8_E5M2"
    case i8 = "I8"
    case i16 = "I16"
    case i32 = "I32"
    case i64 = "I64"
    case u8 = "U8"
    case bool = "BOOL"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .f8e4m3, .f8e5m2, .i8, .u8, .bool: 1
        case .i64, .f64: 8
        }
    }

    /// Whether the type is a floating-point format.
    public var isFloatingPoint: Bool {
        switch self {
        case .f32, .f64, .f16, .bf16, .f8e4m3, .f8e5m2: true
        default: false
        }
    }

    /// The safetensors spellings of every supported type, for error messages.
    public static var supportedNames: String {
        allCases.map(\.rawValue).joined(separator: ", ")
    }
}
