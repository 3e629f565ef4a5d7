/// Conversions between 32-bit floats and the two 8-bit float formats of safetensors.
///
/// - `F8_E4M3` is the "fn" variant (OCP FP8 E4M3): bias 7, no infinities, one NaN per sign
///   (`S.1111.111`), largest finite 448.
/// - `F8_E5M2`: bias 15, IEEE-style ±Inf (`S.11111.00`) and NaNs, largest finite 57344.
///
/// Widening is exact (a 256-entry table). Narrowing rounds to nearest, ties to even, and follows
/// PyTorch's casts (checked against torch 2.13 in the tests) for values the target cannot hold:
/// E5M2 overflows to ±Inf; E4M3 has no infinity and saturates, so overflow and ±Inf become ±448.
/// NaN stays NaN with its sign.
public enum Float8Conversion {
    /// Parameters of one 8-bit float format.
    public struct Format: Sendable {
        @usableFromInline init(exponentBits: UInt32, mantissaBits: UInt32, maxFiniteCode: UInt32, overflowCode: UInt32) {
            (self.exponentBits, self.mantissaBits, self.maxFiniteCode, self.overflowCode) = (exponentBits, mantissaBits, maxFiniteCode, overflowCode)
        }

        @usableFromInline let exponentBits: UInt32
        @usableFromInline let mantissaBits: UInt32
        /// Largest finite code without the sign bit.
        @usableFromInline let maxFiniteCode: UInt32
        /// What overflow encodes to, without the sign bit.
        @usableFromInline let overflowCode: UInt32

        @usableFromInline var bias: UInt32 { (1 &<< (exponentBits &- 1)) &- 1 }

        /// OCP E4M3 ("fn"): overflow saturates to the largest finite value.
        public static let e4m3 = Format(exponentBits: 4, mantissaBits: 3, maxFiniteCode: 0x7E, overflowCode: 0x7E)
        /// E5M2: overflow becomes Inf.
        public static let e5m2 = Format(exponentBits: 5, mantissaBits: 2, maxFiniteCode: 0x7B, overflowCode: 0x7C)
    }

    /// The Float value of every E4M3 code.
    public static let e4m3Table: [Float] = (0..<256).map { decodeReference(UInt8($0), .e4m3) }
    /// The Float value of every E5M2 code.
    public static let e5m2Table: [Float] = (0..<256).map { decodeReference(UInt8($0), .e5m2) }

    /// Widens 8-bit floats to Float through `table` (`e4m3Table` or `e5m2Table`).
    public static func widen(_ source: UnsafeRawBufferPointer, table: [Float], into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(source.count == destination.count, "Float8 widen: count mismatch")
        table.withUnsafeBufferPointer { lookup in
            for i in 0..<source.count { destination[i] = lookup[Int(source[i])] }
        }
    }

    /// Narrows Float to an 8-bit float format, rounding to nearest even.
    public static func narrow(_ source: UnsafeBufferPointer<Float>, format: Format, into destination: UnsafeMutableRawBufferPointer) {
        precondition(source.count == destination.count, "Float8 narrow: count mismatch")
        for i in 0..<source.count { destination[i] = encode(source[i], format) }
    }

    /// The code of the value of `format` nearest to `value` (ties to even).
    ///
    /// Normal results: round the 23-bit mantissa to `m` bits by adding half an ulp minus one
    /// plus the lowest kept bit (ties to even), shift, and rebias the exponent; a carry out of
    /// the mantissa bumps the exponent, and anything past `maxFiniteCode` overflows.
    /// Subnormal results (|x| below the smallest normal 2^(1−bias)): adding 2^(24−bias−m),
    /// whose ulp is exactly the target's subnormal step 2^(1−bias−m), makes the FPU round |x|
    /// to a multiple of that step (ties to even); the sum's low bits are the code. A result of
    /// 2^m is the smallest normal, whose code is also 2^m.
    @inlinable
    public static func encode(_ value: Float, _ format: Format) -> UInt8 {
        let bits = value.bitPattern
        let sign = (bits &>> 24) & 0x80
        let magnitude = bits & 0x7FFF_FFFF
        if magnitude > 0x7F80_0000 { return UInt8(sign | 0x7F) }  // NaN
        let m = format.mantissaBits
        let bias = format.bias
        let smallestNormalBits = (127 &+ 1 &- bias) &<< 23
        let code: UInt32
        if magnitude < smallestNormalBits {
            let magic = Float(bitPattern: (127 &+ 24 &- bias &- m) &<< 23)
            code = (Float(bitPattern: magnitude) + magic).bitPattern &- magic.bitPattern
        } else {
            let shift = 23 &- m
            let lowestKept = (magnitude &>> shift) & 1
            let rounded = (magnitude &+ ((1 &<< (shift &- 1)) &- 1) &+ lowestKept) &>> shift
            code = rounded &- ((127 &- bias) &<< m)
        }
        return UInt8(sign | (code > format.maxFiniteCode ? format.overflowCode : code))
    }

    /// Decodes one code by the format's definition (used to build the tables).
    static func decodeReference(_ code: UInt8, _ format: Format) -> Float {
        let negative = code & 0x80 != 0
        let magnitude = UInt32(code & 0x7F)
        let m = format.mantissaBits
        let exponent = magnitude &>> m
        let mantissa = magnitude & ((1 &<< m) &- 1)
        let value: Float
        if magnitude > format.maxFiniteCode {
            value = (format.overflowCode > format.maxFiniteCode && magnitude == format.overflowCode) ? .infinity : .nan
        } else if exponent == 0 {
            value = Float(mantissa) * Float(sign: .plus, exponent: 1 - Int(format.bias) - Int(m), significand: 1)
        } else {
            let significand = 1 + Float(mantissa) / Float(1 &<< m)
            value = Float(sign: .plus, exponent: Int(exponent) - Int(format.bias), significand: significand)
        }
        return negative ? -value : value
    }
}
