/// XXH64, the 64-bit xxHash (Yann Collet, https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md),
/// the checksum of tensor frames.
///
/// Chosen because it runs near memory speed on one core without special instructions (a CRC32C
/// at that speed needs SSE4.2 intrinsics Swift cannot reach without C), detects every error a
/// transport or a bug is likely to make, and has independent implementations to check against
/// (Tests/Reference/xxh64_reference.py, written from the spec). It is not a cryptographic hash:
/// it guards against corruption, not against an attacker.
public enum XXH64 {
    static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    /// The XXH64 of `bytes` with `seed`.
    ///
    /// Spec §"Step 1"–"Step 6": four lanes absorb 32-byte stripes; the lanes converge, the
    /// length is added, the tail (8-, 4-, then 1-byte pieces) is mixed in, and the result avalanches.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let length = bytes.count
        guard let base = bytes.baseAddress, length > 0 else { return finish(seed &+ prime5 &+ 0) }
        var offset = 0
        var h: UInt64
        if length >= 32 {
            // Step 1–2: initialize the accumulators and process stripes.
            var v1 = seed &+ prime1 &+ prime2
            var v2 = seed &+ prime2
            var v3 = seed
            var v4 = seed &- prime1
            let stripeEnd = length - 32
            while offset <= stripeEnd {
                v1 = round(v1, load64(base, offset))
                v2 = round(v2, load64(base, offset + 8))
                v3 = round(v3, load64(base, offset + 16))
                v4 = round(v4, load64(base, offset + 24))
                offset += 32
            }
            // Step 3: converge.
            h = rotate(v1, 1) &+ rotate(v2, 7) &+ rotate(v3, 12) &+ rotate(v4, 18)
            h = merge(h, v1)
            h = merge(h, v2)
            h = merge(h, v3)
            h = merge(h, v4)
        } else {
            h = seed &+ prime5
        }
        // Step 4: add the length.
        h = h &+ UInt64(length)
        // Step 5: the remaining bytes.
        while offset + 8 <= length {
            h ^= round(0, load64(base, offset))
            h = rotate(h, 27) &* prime1 &+ prime4
            offset += 8
        }
        if offset + 4 <= length {
            h ^= UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) &* prime1
            h = rotate(h, 23) &* prime2 &+ prime3
            offset += 4
        }
        while offset < length {
            h ^= UInt64(base.load(fromByteOffset: offset, as: UInt8.self)) &* prime5
            h = rotate(h, 11) &* prime1
            offset += 1
        }
        return finish(h)
    }

    /// Step 6: final mix (avalanche).
    @inline(__always)
    static func finish(_ value: UInt64) -> UInt64 {
        var h = value
        h ^= h >> 33
        h = h &* prime2
        h ^= h >> 29
        h = h &* prime3
        h ^= h >> 32
        return h
    }

    @inline(__always)
    static func round(_ accumulator: UInt64, _ input: UInt64) -> UInt64 {
        rotate(accumulator &+ input &* prime2, 31) &* prime1
    }

    @inline(__always)
    static func merge(_ accumulator: UInt64, _ lane: UInt64) -> UInt64 {
        (accumulator ^ round(0, lane)) &* prime1 &+ prime4
    }

    @inline(__always)
    static func rotate(_ value: UInt64, _ bits: UInt64) -> UInt64 {
        (value << bits) | (value >> (64 - bits))
    }

    @inline(__always)
    static func load64(_ base: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}
