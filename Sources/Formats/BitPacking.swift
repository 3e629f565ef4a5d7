import Kernels
import Tensors

/// Dense bit packing into 32-bit words, the layout of compressed-tensors' `pack_to_int32` and of
/// GPTQ's `qweight`/`qzeros` (whose 3-bit packing, irregular when described word by word, is the
/// same bit stream): value i occupies bits [i·b, (i+1)·b) of the stream, the stream fills word 0
/// from its lowest bit, then word 1, and so on; a value may straddle two words; the bits after the
/// last value are zero.
public enum BitPacking {
    /// Words needed for `count` values of `bits` bits: ⌈count·bits / 32⌉.
    @inlinable
    public static func wordCount(values count: Int, bits: Int) -> Int { (count * bits + 31) / 32 }

    /// Packs `count` values, each below 2^bits, given by `value(i)`, into `words`
    /// (`wordCount(values: count, bits: bits)` of them), calling `store(word, bits)` for each.
    @inlinable
    public static func pack(count: Int, bits: Int, value: (Int) -> UInt32, store: (Int, UInt32) -> Void) {
        var buffer: UInt64 = 0
        var filled = 0
        var word = 0
        for i in 0..<count {
            buffer |= UInt64(value(i)) << UInt64(filled)
            filled += bits
            if filled >= 32 {
                store(word, UInt32(truncatingIfNeeded: buffer))
                word += 1
                buffer >>= 32
                filled -= 32
            }
        }
        if filled > 0 { store(word, UInt32(truncatingIfNeeded: buffer)) }
    }

    /// Unpacks `count` values of `bits` bits from the words given by `word(i)`, calling
    /// `store(i, value)` for each.
    @inlinable
    public static func unpack(count: Int, bits: Int, word: (Int) -> UInt32, store: (Int, UInt32) -> Void) {
        let mask: UInt64 = (1 << UInt64(bits)) - 1
        var buffer: UInt64 = 0
        var available = 0
        var next = 0
        for i in 0..<count {
            if available < bits {
                buffer |= UInt64(word(next)) << UInt64(available)
                next += 1
                available += 32
            }
            store(i, UInt32(buffer & mask))
            buffer >>= UInt64(bits)
            available -= bits
        }
    }
}
