/// Fixed-point sums (`FixedPointSum`'s 128-bit integers) in the fewest bytes that keep them exact,
/// for the wire: statistics are most of what workers send, and a 16-byte sum rarely needs 16.
///
/// The sums go in segments of `segmentLength` (the last may be shorter), packed and unpacked in
/// parallel: first each segment's byte length (UInt64, little-endian), then the segments. A
/// segment is blocks of `blockLength` sums (the last may be shorter). A block is a byte `w`
/// (0…16), a byte `s` (0…127), then each of its sums shifted right by `s` as `w` little-endian
/// bytes of two's complement. `s` is the number of trailing zero bits every sum of the block has
/// and `w` the fewest bytes that hold every shifted sum with its sign; a block of zeros is
/// `w = 0, s = 0` and nothing else. Both choices are exact: the shifted-out bits are zeros and
/// sign extension restores the rest, so `unpack(pack(x)) == x` for every `Int128`.
///
/// Why it pays: a sum is a total of Float summands (each batch's XᵀX entry from sgemm), each a
/// 24-bit significand at its exponent, in units of 2⁻⁴⁸; an entry of magnitude about 1 per
/// batch has some 25 trailing zero bits and about 60 significant ones. Neighbouring entries of
/// XᵀX's packed upper triangle (one row, nearby columns) are of similar magnitude, so one width
/// and shift per 64 costs 2 bytes per block and fits most entries closely.
public enum FixedPointPacking {
    /// Sums per block: small enough that the width follows the magnitudes along a row, large
    /// enough that the 2-byte block header is 3 % of a block of 1-byte sums.
    public static let blockLength = 64

    /// Sums per segment, the unit of parallel work (4 MiB unpacked).
    public static let segmentLength = 1 << 18

    /// `sums` packed.
    public static func pack(_ sums: [Int128]) -> [UInt8] {
        let segments = (sums.count + segmentLength - 1) / segmentLength
        var parts = [[UInt8]](repeating: [], count: segments)
        sums.withUnsafeBufferPointer { all in
            nonisolated(unsafe) let source = all
            parts.withUnsafeMutableBufferPointer { slots in
                nonisolated(unsafe) let destination = slots
                ComputeThreads.forEach(tiles: segments, flops: Double(sums.count) * 8) { segment in
                    let start = segment * segmentLength
                    destination[segment] = packSegment(UnsafeBufferPointer(rebasing: source[start..<min(start + segmentLength, source.count)]))
                }
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 * segments + parts.reduce(0) { $0 + $1.count })
        for part in parts { Swift.withUnsafeBytes(of: UInt64(part.count).littleEndian) { bytes += $0 } }
        for part in parts { bytes += part }
        return bytes
    }

    /// One segment's blocks.
    private static func packSegment(_ sums: UnsafeBufferPointer<Int128>) -> [UInt8] {
        // Worst case: 16 bytes a sum and 2 per block, plus 16 of slack for the last 16-byte store.
        let capacity = sums.count * 16 + (sums.count / blockLength + 1) * 2 + 16
        var written = 0
        return [UInt8](unsafeUninitializedCapacity: capacity) { output, initialized in
            let out = UnsafeMutableRawBufferPointer(output)
            var start = 0
            while start < sums.count {
                let end = min(start + blockLength, sums.count)
                var any: UInt128 = 0
                for index in start..<end { any |= UInt128(bitPattern: sums[index]) }
                guard any != 0 else {
                    out[written] = 0
                    out[written + 1] = 0
                    written += 2
                    start = end
                    continue
                }
                let shift = any.trailingZeroBitCount
                // Each shifted sum's bits beyond its sign: v XOR (v's sign spread), OR-ed together.
                var magnitude: UInt128 = 0
                for index in start..<end {
                    let shifted = sums[index] &>> shift
                    magnitude |= UInt128(bitPattern: shifted ^ (shifted &>> 127))
                }
                let width = (128 - magnitude.leadingZeroBitCount + 1 + 7) / 8
                out[written] = UInt8(width)
                out[written + 1] = UInt8(shift)
                written += 2
                // All 16 bytes are stored and the next sum overwrites those past `width`.
                for index in start..<end {
                    out.storeBytes(of: UInt128(bitPattern: sums[index] &>> shift).littleEndian, toByteOffset: written, as: UInt128.self)
                    written += width
                }
                start = end
            }
            // Bytes past `written` hold the tails of 16-byte stores, outside the array.
            initialized = written
        }
    }

    /// The `count` sums `pack` made of `bytes`.
    /// - Throws: `KernelError.malformedTensor` (message without the tensor's name, which the
    ///   caller adds) for segment lengths that do not add up to the bytes, a width above 16, a
    ///   shift above 127 or with a zero block, a sum that does not fit 128 bits once shifted
    ///   back, or bytes left over or missing in a segment; the first segment's error when
    ///   several have one.
    public static func unpack(_ bytes: UnsafeRawBufferPointer, count: Int) throws(KernelError) -> [Int128] {
        guard count >= 0 else { throw KernelError(.malformedTensor, "\(count) sums asked for") }
        let segments = (count + segmentLength - 1) / segmentLength
        guard bytes.count >= 8 * segments else {
            throw KernelError(.malformedTensor, "holds \(bytes.count) bytes, fewer than the table of \(segments) segment lengths (8 bytes each)")
        }
        var ranges: [Range<Int>] = []
        var offset = 8 * segments
        for segment in 0..<segments {
            let length = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * segment, as: UInt64.self))
            guard length <= UInt64(bytes.count - offset) else {
                throw KernelError(.malformedTensor, "segment \(segment) is \(length) bytes long, past the end of the \(bytes.count) bytes")
            }
            ranges.append(offset..<(offset + Int(length)))
            offset += Int(length)
        }
        guard offset == bytes.count else {
            throw KernelError(.malformedTensor, "holds \(bytes.count) bytes, \(bytes.count - offset) more than its \(segments) segments")
        }
        var failures = [KernelError?](repeating: nil, count: segments)
        // Every element is written (zero blocks too) before the array is used; on an error the
        // array is discarded with its elements marked initialized, which trivial Int128s allow.
        let sums = [Int128](unsafeUninitializedCapacity: count) { buffer, initialized in
            nonisolated(unsafe) let destination = buffer
            failures.withUnsafeMutableBufferPointer { slots in
                nonisolated(unsafe) let errors = slots
                nonisolated(unsafe) let source = bytes
                let segmentRanges = ranges
                ComputeThreads.forEach(tiles: segments, flops: Double(count) * 8) { segment in
                    let first = segment * segmentLength
                    let sums = UnsafeMutableBufferPointer(rebasing: destination[first..<min(first + segmentLength, count)])
                    do throws(KernelError) {
                        try unpackSegment(UnsafeRawBufferPointer(rebasing: source[segmentRanges[segment]]), into: sums, first: first)
                    } catch { errors[segment] = error }
                }
            }
            initialized = count
        }
        if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }
        return sums
    }

    /// One segment's blocks into `sums`, whose first element is sum `first` (for messages).
    private static func unpackSegment(_ bytes: UnsafeRawBufferPointer, into sums: UnsafeMutableBufferPointer<Int128>, first: Int) throws(KernelError) {
        let count = sums.count
        var offset = 0
        var start = 0
        while start < count {
            let length = min(blockLength, count - start)
            let blockName = "the block of sums \(first + start)..<\(first + start + length)"
            guard offset + 2 <= bytes.count else {
                throw KernelError(.malformedTensor, "ends inside the header of \(blockName)")
            }
            let width = Int(bytes[offset]), shift = Int(bytes[offset + 1])
            offset += 2
            guard width <= 16, shift <= 127, width > 0 || shift == 0 else {
                throw KernelError(.malformedTensor, "\(blockName) has width \(width) and shift \(shift) (at most 16 bytes and 127 bits, 0 for a block of zeros)")
            }
            guard bytes.count - offset >= width * length else {
                throw KernelError(.malformedTensor, "ends inside \(blockName) (\(width) bytes each)")
            }
            if width == 0 {
                for index in start..<(start + length) { sums[index] = 0 }
                start += length
                continue
            }
            // A value of 8·width bits shifted left by `shift` fits 128 bits when the two add up
            // to at most 128; otherwise each sum is checked.
            let mayOverflow = 8 * width + shift > 128
            if width <= 8 && !mayOverflow && offset + 8 * length + 8 <= bytes.count {
                // The common case, in 64-bit arithmetic: at most 8 bytes a sum, loaded 8 at a time.
                let spread = UInt64(64 - 8 * width)
                for index in start..<(start + length) {
                    let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                    offset += width
                    sums[index] = Int128(Int64(bitPattern: word &<< spread) &>> spread) &<< shift
                }
                start += length
                continue
            }
            let spread = 128 - 8 * width
            for index in start..<(start + length) {
                var word: UInt128 = 0
                if offset + 16 <= bytes.count {
                    // The bytes past the sum's are shifted out below.
                    word = UInt128(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt128.self))
                } else {
                    for byte in (0..<width).reversed() { word = word &<< 8 | UInt128(bytes[offset + byte]) }
                }
                offset += width
                let value = Int128(bitPattern: word &<< spread) &>> spread
                let sum = value &<< shift
                if mayOverflow && sum &>> shift != value {
                    throw KernelError(.malformedTensor, "sum \(first + index) does not fit 128 bits (\(width) bytes shifted left by \(shift))")
                }
                sums[index] = sum
            }
            start += length
        }
        guard offset == bytes.count else {
            throw KernelError(.malformedTensor, "the segment of sums \(first)..<\(first + count) holds \(bytes.count) bytes, \(bytes.count - offset) more than its sums use")
        }
    }
}
