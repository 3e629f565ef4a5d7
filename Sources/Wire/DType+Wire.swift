import Tensors

/// The `DType` enum of calibrate.proto (F64 carries the statistics' float64 sums).
extension DType {
    /// The value of this type in calibrate.proto's `DType` enum.
    public var wireValue: UInt32 {
        switch self {
        case .f32: 1
        case .f16: 2
        case .bf16: 3
        case .f8e4m3: 4
        case .f8e5m2: 5
        case .i8: 6
        case .i16: 7
        case .i32: 8
        case .i64: 9
        case .u8: 10
        case .bool: 11
        case .f64: 12
        }
    }

    /// The type with calibrate.proto value `wireValue`, or nil for an unknown or unsupported value.
    public init?(wireValue: UInt32) {
        guard let match = DType.allCases.first(where: { $0.wireValue == wireValue }) else { return nil }
        self = match
    }
}
