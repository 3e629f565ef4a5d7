/// Conversions between 32-bit floats and the 16-bit formats (IEEE binary16 and bfloat16).
///
/// Widening is exact for every value. Narrowing rounds to nearest, ties to even; NaN stays NaN
/// (quieted, sign kept) and ±Inf stays ±Inf. Values past the largest finite value of the target
/// round to ±Inf, as IEEE 754 prescribes for round-to-nearest.
///
/// Sources are raw little-endian bytes at any alignment (a memory-mapped safetensors data section
/// places tensors at arbitrary offsets), read with `loadUnaligned`, which the compiler turns into
/// plain vector loads on x86-64.
public enum HalfConversion {
    /// Widens binary16 values to Float. `source.count` must be `2 * destination.count`.
    @inlinable
    public static func float16ToFloat32(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(source.count == 2 * destination.count, "float16ToFloat32: byte count mismatch")
        guard let src = source.baseAddress, let dst = destination.baseAddress else { return }
        for i in 0..<destination.count {
            let bits = src.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self)
            dst[i] = Float(Float16(bitPattern: UInt16(littleEndian: bits)))
        }
    }

    /// Narrows Float to binary16 (round to nearest even). `destination.count` must be `2 * source.count`.
    @inlinable
    public static func float32ToFloat16(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count == 2 * source.count, "float32ToFloat16: byte count mismatch")
        guard let src = source.baseAddress, let dst = destination.baseAddress else { return }
        for i in 0..<source.count {
            let bits = Float16(src[i]).bitPattern.littleEndian
            dst.storeBytes(of: bits, toByteOffset: 2 &* i, as: UInt16.self)
        }
    }

    /// Widens bfloat16 values to Float (a shift: bfloat16 is the top half of a Float).
    @inlinable
    public static func bfloat16ToFloat32(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(source.count == 2 * destination.count, "bfloat16ToFloat32: byte count mismatch")
        guard let src = source.baseAddress, let dst = destination.baseAddress else { return }
        for i in 0..<destination.count {
            let bits = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self))
            dst[i] = Float(bitPattern: UInt32(bits) &<< 16)
        }
    }

    /// Narrows Float to bfloat16, rounding to nearest even.
    @inlinable
    public static func float32ToBFloat16(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count == 2 * source.count, "float32ToBFloat16: byte count mismatch")
        guard let src = source.baseAddress, let dst = destination.baseAddress else { return }
        for i in 0..<source.count {
            dst.storeBytes(of: bfloat16Bits(src[i]).littleEndian, toByteOffset: 2 &* i, as: UInt16.self)
        }
    }

    /// The bfloat16 nearest to `value` (ties to even), as bits.
    ///
    /// Adding 0x7FFF plus the lowest kept bit to the Float's bits and truncating rounds the 16
    /// dropped bits to nearest, ties to even; a carry out of the mantissa correctly bumps the
    /// exponent, and the largest finite values round up to the infinity bit pattern. NaN is
    /// excluded first (the addition could turn a NaN payload into Inf) and quieted instead.
    @inlinable @inline(__always)
    public static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let rounded = UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16)
        let quietNaN = UInt16(truncatingIfNeeded: bits &>> 16) | 0x0040
        return value.isNaN ? quietNaN : rounded
    }
}
