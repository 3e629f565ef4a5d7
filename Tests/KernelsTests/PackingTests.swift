import Formats
import Kernels
import Tensors
import TestSupport
import Testing

@Suite("Packing: compressed-tensors and GPTQ v1")
struct PackingTests {
    static let cases = KernelFixtures.shared.manifest.packing.indices.map { $0 }

    static func weights(_ index: Int) throws -> QuantizedWeights {
        let fixtures = KernelFixtures.shared
        let spec = fixtures.manifest.packing[index]
        return try QuantizedWeights(
            scheme: spec.scheme, rows: spec.rows, columns: spec.columns, codes: fixtures.ints("pack\(index).codes").map { Int8($0) },
            scales: fixtures.floats("pack\(index).scales"), zeroPoints: fixtures.ints("pack\(index).zeros").map { Int8($0) },
            groupIndex: QuantizedWeights.trivialGroupIndex(columns: spec.columns, groupLength: spec.group_size == -1 ? spec.columns : spec.group_size))
    }

    static func int32s(_ tensor: Tensor?) -> [Int64] { tensor.map { $0.floats().map { Int64($0) } } ?? [] }

    static func words(_ tensor: Tensor) -> [UInt32] {
        tensor.withUnsafeBytes { raw in (0..<tensor.elementCount).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self) } }
    }

    @Test("the issue's worked example: 4 bits, q[n][k] = ((n + 2k) mod 16) − 8")
    func workedExample() throws {
        let scheme = try QuantizationScheme(bits: 4, symmetric: true, groupSize: -1)
        var codes = [Int8](repeating: 0, count: 64)
        for n in 0..<8 { for k in 0..<8 { codes[n * 8 + k] = Int8((n + 2 * k) % 16 - 8) } }
        let weights = try QuantizedWeights(scheme: scheme, rows: 8, columns: 8, codes: codes, scales: [Float](repeating: 1, count: 8),
                                           zeroPoints: [Int8](repeating: 0, count: 8), groupIndex: [Int32](repeating: 0, count: 8))
        let expected: [UInt32] = [0xeca86420, 0xfdb97531, 0x0eca8642, 0x1fdb9753, 0x20eca864, 0x31fdb975, 0x420eca86, 0x531fdb97]
        // K·b/32 = 1: GPTQ's qweight is [1, 8], compressed-tensors' weight_packed [8, 1].
        let gptq = try GPTQPacking.pack(weights)
        #expect(gptq["qweight"]!.shape == [1, 8] && Self.words(gptq["qweight"]!) == expected)
        let ct = CompressedTensorsPacking.pack(weights)
        #expect(ct["weight_packed"]!.shape == [8, 1] && Self.words(ct["weight_packed"]!) == expected)
        #expect(gptq["qzeros"]!.shape == [1, 1] && Self.words(gptq["qzeros"]!) == [0x77777777], "symmetric: zero 8 stored as 8 − 1")
    }

    @Test("compressed-tensors packing equals pack_to_int32 bit for bit; unpacking and dequantization equal the compressor's",
          arguments: cases)
    func compressedTensors(index: Int) throws {
        let fixtures = KernelFixtures.shared
        let spec = fixtures.manifest.packing[index]
        let weights = try Self.weights(index)
        let packed = CompressedTensorsPacking.pack(weights, scaleDType: .f32)
        #expect(Self.words(packed["weight_packed"]!) == Self.words(fixtures.tensor("pack\(index).ct.weight_packed")), "\(spec)")
        #expect(packed["weight_packed"]!.shape == fixtures.tensor("pack\(index).ct.weight_packed").shape)
        if spec.symmetric {
            #expect(packed["weight_zero_point"] == nil)
        } else {
            let golden = fixtures.tensor("pack\(index).ct.weight_zero_point")
            #expect(packed["weight_zero_point"]!.shape == golden.shape && Self.words(packed["weight_zero_point"]!) == Self.words(golden), "\(spec)")
        }
        #expect(Self.int32s(packed["weight_shape"]) == [Int64(spec.rows), Int64(spec.columns)] && packed["weight_shape"]!.dtype == .i64)
        #expect(packed["weight_g_idx"] == nil)
        // Unpack what compressed-tensors wrote.
        var written = fixtures.group("pack\(index).ct.")
        written["weight_scale"] = Tensor(floats: weights.scales, shape: [spec.rows, weights.groupCount])
        written["weight_shape"] = packed["weight_shape"]
        let unpacked = try CompressedTensorsPacking.unpack(written, scheme: spec.scheme, name: "case \(index)")
        #expect(unpacked == weights, "\(spec)")
        // Dequantization: (q − z)·s in Float is what the compressor computes with F32 scales.
        #expect(unpacked.dequantized().values == fixtures.floats("pack\(index).ct.dequantized"), "\(spec)")
    }

    @Test("GPTQ v1 packing equals AutoGPTQ's loops (3 bits included), and unpacks back", arguments: cases.filter {
        KernelFixtures.shared.manifest.packing[$0].gptq == true
    })
    func gptqV1(index: Int) throws {
        let fixtures = KernelFixtures.shared
        let spec = fixtures.manifest.packing[index]
        let weights = try Self.weights(index)
        let packed = try GPTQPacking.pack(weights)
        for name in ["qweight", "qzeros", "g_idx"] {
            let golden = fixtures.tensor("pack\(index).gptq.\(name)")
            #expect(packed[name]!.shape == golden.shape && Self.words(packed[name]!) == Self.words(golden), "\(spec) \(name)")
        }
        let goldenScales = fixtures.tensor("pack\(index).gptq.scales")
        #expect(packed["scales"]!.dtype == .f16 && packed["scales"]!.withUnsafeBytes { Array($0) } == goldenScales.withUnsafeBytes { Array($0) })
        let unpacked = try GPTQPacking.unpack(fixtures.group("pack\(index).gptq."), scheme: spec.scheme, name: "case \(index)")
        #expect(unpacked.codes == weights.codes && unpacked.zeroPoints == weights.zeroPoints && unpacked.groupIndex == weights.groupIndex)
        #expect(unpacked.scales == weights.scales.map { Float(Float16($0)) }, "scales come back rounded to F16")
    }

    @Test("unpack(pack(x)) == x for every width, symmetric and not, with and without g_idx", arguments: [2, 3, 4, 5, 6, 7, 8])
    func roundTrip(bits: Int) throws {
        var random = SplitMix64(seed: UInt64(100 + bits))
        for (rows, columns, group, symmetric) in [(3, 20, 4, false), (33, 96, 32, false), (64, 64, -1, true), (7, 9, 3, false)] {
            let scheme = try QuantizationScheme(bits: bits, symmetric: symmetric, groupSize: group, scaleFormat: .float16)
            let g = group == -1 ? 1 : columns / group
            let codes = (0..<(rows * columns)).map { _ in Int8(Int(random.next() % UInt64(1 << bits)) + scheme.codeMin) }
            let zeros = (0..<(rows * g)).map { _ in symmetric ? 0 : Int8(Int(random.next() % UInt64((1 << bits) - 1)) + scheme.codeMin + 1) }
            let scales = (0..<(rows * g)).map { _ in Float(Float16(abs(random.float()) + 0.01)) }
            var groupIndex = QuantizedWeights.trivialGroupIndex(columns: columns, groupLength: columns / g)
            groupIndex.reverse()  // a non-trivial g_idx, as act-order with dynamic groups gives
            let weights = try QuantizedWeights(scheme: scheme, rows: rows, columns: columns, codes: codes, scales: scales, zeroPoints: zeros, groupIndex: groupIndex)
            let ct = CompressedTensorsPacking.pack(weights, scaleDType: .f16)
            #expect(try CompressedTensorsPacking.unpack(ct, scheme: scheme, name: "rt") == weights, "b\(bits) \(rows)×\(columns)")
            #expect(ct["weight_g_idx"] != nil || g == 1)
            if GPTQPacking.supportedBits.contains(bits), columns * bits % 32 == 0, rows * bits % 32 == 0 {
                #expect(try GPTQPacking.unpack(GPTQPacking.pack(weights), scheme: scheme, name: "rt") == weights, "b\(bits) \(rows)×\(columns)")
            }
            #expect(try QuantizedWeights(tensors: weights.tensors(), name: "rt") == weights)
        }
    }

    @Test("what GPTQ v1 cannot hold is refused with the reason")
    func gptqRefusals() throws {
        let scheme = try QuantizationScheme(bits: 4, symmetric: false, groupSize: -1)
        var zeros = [Int8](repeating: 0, count: 8)
        zeros[3] = -8  // unsigned zero point 0: v1 would store −1
        let weights = try QuantizedWeights(scheme: scheme, rows: 8, columns: 8, codes: [Int8](repeating: 0, count: 64),
                                           scales: [Float](repeating: 1, count: 8), zeroPoints: zeros, groupIndex: [Int32](repeating: 0, count: 8))
        let error = #expect(throws: KernelError.self) { try GPTQPacking.pack(weights) }
        #expect(error?.code == .unrepresentable && error?.message.contains("row 3, group 0 has zero point 0") == true)
        let five = try QuantizedWeights(scheme: QuantizationScheme(bits: 5, symmetric: true, groupSize: -1), rows: 32, columns: 32,
                                        codes: [Int8](repeating: 0, count: 1024), scales: [Float](repeating: 1, count: 32),
                                        zeroPoints: [Int8](repeating: 0, count: 32), groupIndex: [Int32](repeating: 0, count: 32))
        #expect(throws: KernelError(.invalidArgument, "GPTQ packing: GPTQ v1 loaders read 2, 3, 4 or 8 bits, not 5; use compressed-tensors")) { try GPTQPacking.pack(five) }
        let odd = try QuantizedWeights(scheme: QuantizationScheme(bits: 3, symmetric: true, groupSize: -1), rows: 32, columns: 40,
                                       codes: [Int8](repeating: 0, count: 1280), scales: [Float](repeating: 1, count: 32),
                                       zeroPoints: [Int8](repeating: 0, count: 32), groupIndex: [Int32](repeating: 0, count: 40))
        #expect(throws: KernelError.self) { try GPTQPacking.pack(odd) }
        var tensors = CompressedTensorsPacking.pack(odd)
        tensors["weight_packed"] = nil
        #expect(throws: KernelError.self) { try CompressedTensorsPacking.unpack(tensors, scheme: odd.scheme, name: "model.layers.0.mlp.up_proj") }
    }
}
