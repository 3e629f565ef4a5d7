import Kernels
import Testing

@Suite("Fixed-point sums packed for the wire")
struct FixedPointPackingTests {
    static func unpacked(_ bytes: [UInt8], count: Int) throws -> [Int128] {
        try bytes.withUnsafeBytes { try FixedPointPacking.unpack($0, count: count) }
    }

    /// One segment: its length (UInt64, little-endian), then its blocks.
    static func segment(_ blocks: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt64(blocks.count).littleEndian) { Array($0) } + blocks
    }

    @Test("the bytes of small cases, worked out by hand")
    func knownBytes() throws {
        #expect(FixedPointPacking.pack([]) == [])
        #expect(FixedPointPacking.pack([0, 0, 0]) == Self.segment([0, 0]))
        // 2⁴⁸ (1.0 in fixed point): 48 trailing zeros, then 1 and its sign bit in one byte.
        #expect(FixedPointPacking.pack([1 << 48]) == Self.segment([1, 48, 1]))
        #expect(FixedPointPacking.pack([-1]) == Self.segment([1, 0, 0xFF]))
        #expect(FixedPointPacking.pack([-(1 << 60)]) == Self.segment([1, 60, 0xFF]))
        #expect(FixedPointPacking.pack([3, -3]) == Self.segment([1, 0, 3, 0xFD]))
        // 128 needs 9 bits with its sign: two bytes, little-endian; 0 costs its width too.
        #expect(FixedPointPacking.pack([128 << 4, 0, 16]) == Self.segment([2, 4, 0x80, 0x00, 0x00, 0x00, 0x01, 0x00]))
        #expect(FixedPointPacking.pack([.max]) == Self.segment([16, 0] + [UInt8](repeating: 0xFF, count: 15) + [0x7F]))
        #expect(FixedPointPacking.pack([.min]) == Self.segment([1, 127, 0xFF]))
        let examples: [([UInt8], Int)] = [([], 0), (Self.segment([0, 0]), 3), (Self.segment([1, 48, 1]), 1),
                                          (Self.segment([2, 4, 0x80, 0x00, 0x00, 0x00, 0x01, 0x00]), 3)]
        for (bytes, count) in examples {
            #expect(FixedPointPacking.pack(try Self.unpacked(bytes, count: count)) == bytes)
        }
        // Two segments: the lengths first, then each segment's blocks.
        let two = [Int128](repeating: 1, count: FixedPointPacking.segmentLength + 1)
        let blocks = FixedPointPacking.segmentLength / FixedPointPacking.blockLength
        let first = [UInt8](repeating: 0, count: 0) + (0..<blocks).flatMap { _ in [1, 0] + [UInt8](repeating: 1, count: FixedPointPacking.blockLength) }
        let lengths = withUnsafeBytes(of: UInt64(first.count).littleEndian) { Array($0) } + withUnsafeBytes(of: UInt64(3).littleEndian) { Array($0) }
        #expect(FixedPointPacking.pack(two) == lengths + first + [1, 0, 1])
        #expect(try Self.unpacked(lengths + first + [1, 0, 1], count: two.count) == two)
    }

    @Test("every value comes back exactly: magnitudes from 0 to 2¹²⁷, any shift, blocks cut anywhere")
    func roundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for count in [1, 63, 64, 65, 200, 4096, FixedPointPacking.segmentLength * 2 + 77] {
            var sums = [Int128](repeating: 0, count: count)
            for index in 0..<count {
                let bits = Int.random(in: 0...127, using: &generator)
                let magnitude = Int128(bitPattern: UInt128(UInt64.random(in: 0...UInt64.max, using: &generator)) << 64
                                       | UInt128(UInt64.random(in: 0...UInt64.max, using: &generator))) >> (127 - bits)
                let zeros = Int.random(in: 0...60, using: &generator)
                sums[index] = Bool.random(using: &generator) ? magnitude << zeros : -(magnitude << zeros) &- 1
                if index % 97 == 5 { sums[index] = 0 }
            }
            // A run of zeros makes its own empty block somewhere.
            if count >= 200 { for index in 64..<128 { sums[index] = 0 } }
            let packed = FixedPointPacking.pack(sums)
            #expect(try Self.unpacked(packed, count: count) == sums)
        }
        let extremes: [Int128] = [.max, .min, 0, 1, -1, .max >> 1, .min >> 1, 1 << 126, -(1 << 126)]
        #expect(try Self.unpacked(FixedPointPacking.pack(extremes), count: extremes.count) == extremes)
    }

    @Test("real statistics take far fewer than 16 bytes a sum")
    func realStatistics() throws {
        let problem = KernelFixtures.shared.problem("p2")
        var statistics = ActivationStatistics(columns: problem.spec.columns)
        let k = problem.spec.columns
        for start in stride(from: 0, to: problem.spec.tokens, by: 32) {
            let rows = min(32, problem.spec.tokens - start)
            try statistics.accumulate(Array(problem.x.values[(start * k)..<((start + rows) * k)]), rows: rows, layer: 0, module: "p2")
        }
        let sums = statistics.gramSums
        let packed = FixedPointPacking.pack(sums)
        #expect(try Self.unpacked(packed, count: sums.count) == sums)
        // Float summands leave about 25 trailing zero bits: at most 10 bytes where 16 were sent.
        #expect(packed.count <= sums.count * 10, "\(packed.count) bytes for \(sums.count) sums")
    }

    @Test("malformed packings are refused, saying where")
    func malformed() throws {
        func refusal(_ blocks: [UInt8], count: Int) -> String? {
            #expect(throws: KernelError.self) { try Self.unpacked(Self.segment(blocks), count: count) }?.message
        }
        #expect(refusal([17, 0] + [UInt8](repeating: 0, count: 17), count: 1)?.contains("width 17") == true)
        #expect(refusal([1, 128, 1], count: 1)?.contains("shift 128") == true)
        #expect(refusal([0, 3], count: 1)?.contains("width 0 and shift 3") == true)
        #expect(refusal([1, 0], count: 1) == "ends inside the block of sums 0..<1 (1 bytes each)")
        #expect(refusal([1], count: 1) == "ends inside the header of the block of sums 0..<1")
        #expect(refusal([1, 0, 5, 9], count: 1) == "the segment of sums 0..<1 holds 4 bytes, 1 more than its sums use")
        // 2⁶³ shifted left by 65 is beyond 128 bits.
        #expect(refusal([9, 65, 0, 0, 0, 0, 0, 0, 0, 0x80, 0], count: 1)?.contains("does not fit 128 bits") == true)
        #expect(refusal([], count: 1)?.contains("inside the header") == true)
        // The segment table.
        let table = { (bytes: [UInt8], count: Int) in #expect(throws: KernelError.self) { try Self.unpacked(bytes, count: count) }?.message }
        #expect(table([1, 0, 0], 1)?.contains("fewer than the table of 1 segment lengths") == true)
        #expect(table([9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 3], 1)?.contains("segment 0 is 9 bytes long, past the end") == true)
        #expect(table([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 3], 1)?.contains("past the end") == true)
        #expect(table([2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 3], 1)?.contains("1 more than its 1 segments") == true)
        // An error in a later segment names global sums.
        var two = FixedPointPacking.pack([Int128](repeating: 1, count: FixedPointPacking.segmentLength + 1))
        two[two.count - 3] = 0  // the last block's width: 0 with shift 0 and a byte left over
        #expect(table(two, FixedPointPacking.segmentLength + 1) == "the segment of sums \(FixedPointPacking.segmentLength)..<\(FixedPointPacking.segmentLength + 1) holds 3 bytes, 1 more than its sums use")
    }
}
