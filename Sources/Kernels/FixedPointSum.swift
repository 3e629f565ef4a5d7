/// Exact, order-independent sums: values become 128-bit integers counting units of 2⁻⁴⁸, and
/// integer addition is associative. Statistics summed this way are the same bit for bit however
/// the batches were split across workers and in whatever order the parts are merged — what makes
/// a job's output independent of its number of workers (docs/ARCHITECTURE.md).
///
/// Conversion truncates toward zero below 2⁻⁴⁸ ≈ 3.6·10⁻¹⁵ absolute (each summand on its own, so
/// still independent of order); every Float of magnitude ≥ 2⁻²⁵ and every Double ≥ 2⁻⁵ converts
/// exactly. The range is ±2⁷⁹ ≈ 6·10²³; one summand may not exceed `maximumSummand` (2⁶⁴), which
/// leaves room for 2¹⁵ such summands before the sum could overflow — real XᵀX entries stay many
/// orders of magnitude below.
public enum FixedPointSum {
    /// The largest magnitude one summand may have.
    public static let maximumSummand: Double = 0x1p64

    /// `value` in units of 2⁻⁴⁸, truncated toward zero.
    /// - Precondition: `|value| < 2⁷⁸` and finite (summands: `isRepresentable`).
    ///
    /// Hot (once per XᵀX entry per batch): the common cases stay in 64-bit arithmetic — a 24-bit
    /// significand shifted left by at most 39 bits, or right — and only larger values widen
    /// before shifting.
    @inlinable @inline(__always)
    public static func fixed(_ value: Float) -> Int128 {
        let bits = value.bitPattern
        let exponent = Int((bits &>> 23) & 0xFF)
        if exponent == 0 { return 0 }  // zero or subnormal: below 2⁻¹²⁶, truncated
        let significand = Int64((bits & 0x7F_FFFF) | 0x80_0000)
        // value = significand · 2^(exponent − 150); in units of 2⁻⁴⁸: significand · 2^(exponent − 102).
        let shift = exponent - 102
        let magnitude: Int128
        if shift < 0 {
            magnitude = shift > -24 ? Int128(significand &>> Int64(-shift)) : 0
        } else if shift <= 39 {
            magnitude = Int128(significand &<< Int64(shift))
        } else {
            magnitude = Int128(significand) &<< shift
        }
        return bits &>> 31 == 0 ? magnitude : 0 &- magnitude
    }

    /// `value` in units of 2⁻⁴⁸, truncated toward zero.
    /// - Precondition: `|value| < 2⁷⁸` and finite (summands: `isRepresentable`).
    @inlinable @inline(__always)
    public static func fixed(_ value: Double) -> Int128 {
        let bits = value.bitPattern
        let exponent = Int((bits >> 52) & 0x7FF)
        if exponent == 0 { return 0 }
        let significand = Int128((bits & 0xF_FFFF_FFFF_FFFF) | 0x10_0000_0000_0000)
        // value = significand · 2^(exponent − 1075); in units of 2⁻⁴⁸: significand · 2^(exponent − 1027).
        let shift = exponent - 1027
        let magnitude = shift >= 0 ? significand << shift : (shift > -64 ? significand >> (-shift) : 0)
        return bits >> 63 == 0 ? magnitude : -magnitude
    }

    /// Whether `value` can be added as one summand.
    @inlinable @inline(__always)
    public static func isRepresentable(_ value: Double) -> Bool { abs(value) < maximumSummand }

    /// The sum as a Double: the high and low 64-bit words converted and added (the high word
    /// exactly, the low one rounded, then the sum rounded: within an ulp of the exact value and
    /// a pure function of the sum, which is what determinism needs; far faster than a correctly
    /// rounded 128-bit conversion).
    @inlinable @inline(__always)
    public static func double(_ sum: Int128) -> Double {
        let high = Int64(truncatingIfNeeded: sum &>> 64)
        let low = UInt64(truncatingIfNeeded: sum)
        return (Double(high) * 0x1p64 + Double(low)) * 0x1p-48
    }
}
