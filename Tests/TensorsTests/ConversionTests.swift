import Checkpoint
import Foundation
import Tensors
import Testing

/// Dtype conversions: exhaustive round trips of every 16- and 8-bit pattern, and the narrowing
/// of tricky Float values (ties, subnormals, overflow edges, NaN, Inf) compared bit for bit with
/// torch's casts (fixture made by Tests/Reference/make_safetensors_fixtures.py).
@Suite("dtype conversions")
struct ConversionTests {
    static let fixture = Bundle.module.path(forResource: "Fixtures/conversions", ofType: "safetensors")!

    @Test("every binary16 value widens exactly and narrows back to itself")
    func float16RoundTrip() {
        let codes = (0...UInt16.max).map { $0 }
        let wide = Tensor(dtype16: .f16, codes).floats()
        let back = Tensor(floats: wide, shape: [codes.count], dtype: .f16).codes16()
        for (code, (value, returned)) in zip(codes, zip(wide, back)) {
            #expect(value == Float(Float16(bitPattern: code)) || value.isNaN)
            if value.isNaN {
                #expect(Float16(bitPattern: returned).isNaN && (returned & 0x8000) == (code & 0x8000), "NaN \(code) became \(returned)")
            } else {
                #expect(returned == code, "f16 \(String(code, radix: 16)) → \(value) → \(String(returned, radix: 16))")
            }
        }
    }

    @Test("every bfloat16 value widens exactly and narrows back to itself")
    func bfloat16RoundTrip() {
        let codes = (0...UInt16.max).map { $0 }
        let wide = Tensor(dtype16: .bf16, codes).floats()
        let back = Tensor(floats: wide, shape: [codes.count], dtype: .bf16).codes16()
        for (code, (value, returned)) in zip(codes, zip(wide, back)) {
            #expect(value.bitPattern == UInt32(code) << 16)
            if value.isNaN {
                #expect(returned == code | 0x0040, "NaN \(code) must stay NaN (quieted), became \(returned)")
            } else {
                #expect(returned == code)
            }
        }
    }

    @Test("fp8 tables match torch for all 256 codes, and every finite code narrows back to itself",
          arguments: [(DType.f8e4m3, "e4m3_decoded"), (DType.f8e5m2, "e5m2_decoded")])
    func float8Codes(dtype: DType, reference: String) throws {
        let expected = try SafetensorsFile(path: Self.fixture).tensor(reference).floats()
        let codes = (0...255).map { UInt8($0) }
        let decoded = try Tensor(dtype: dtype, shape: [256], bytes: codes).floats()
        for code in 0..<256 {
            #expect(decoded[code].bitPattern == expected[code].bitPattern || (decoded[code].isNaN && expected[code].isNaN),
                    "\(dtype.rawValue) code \(code): \(decoded[code]) vs torch \(expected[code])")
        }
        let back = Tensor(floats: decoded, shape: [256], dtype: dtype)
        back.withUnsafeBytes { bytes in
            for code in 0..<256 where !decoded[code].isNaN {
                #expect(bytes[code] == UInt8(code), "\(dtype.rawValue) code \(code) → \(decoded[code]) → \(bytes[code])")
            }
        }
    }

    @Test("narrowing matches torch bit for bit on ties, subnormals, overflow, NaN and Inf",
          arguments: [(DType.f16, "f16"), (DType.bf16, "bf16"), (DType.f8e4m3, "f8_e4m3"), (DType.f8e5m2, "f8_e5m2")])
    func narrowingMatchesTorch(dtype: DType, name: String) throws {
        let file = try SafetensorsFile(path: Self.fixture)
        let input = try file.tensor("input").floats()
        let expected = try file.tensor(name)
        #expect(expected.dtype == dtype)
        let ours = Tensor(floats: input, shape: [input.count], dtype: dtype)
        let expectedValues = expected.floats()
        let ourValues = ours.floats()
        var mismatches = 0
        for i in 0..<input.count {
            let same = expectedValues[i].bitPattern == ourValues[i].bitPattern || (expectedValues[i].isNaN && ourValues[i].isNaN)
            if !same {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(dtype.rawValue): \(input[i]) → ours \(ourValues[i]), torch \(expectedValues[i])") }
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(input.count) values differ")
    }

    @Test("largest finite values and overflow behaviour of each format")
    func formatLimits() {
        let values: [Float] = [448, 464, 465, 57344, 61439, 61440, 65504, 65520, .infinity, -.infinity]
        let e4m3 = Tensor(floats: values, shape: [values.count], dtype: .f8e4m3).floats()
        #expect(e4m3[0] == 448 && e4m3[1] == 448 && e4m3[2] == 448, "E4M3 rounds 464 (a tie) to even 448 and saturates above")
        #expect(e4m3[8] == 448 && e4m3[9] == -448, "E4M3 has no infinity: ±Inf saturates as torch does")
        let e5m2 = Tensor(floats: values, shape: [values.count], dtype: .f8e5m2).floats()
        #expect(e5m2[3] == 57344 && e5m2[4] == 57344 && e5m2[5] == .infinity)
        #expect(e5m2[8] == .infinity && e5m2[9] == -.infinity)
        let f16 = Tensor(floats: values, shape: [values.count], dtype: .f16).floats()
        #expect(f16[6] == 65504 && f16[7] == .infinity && f16[9] == -.infinity)
        let bf16 = Tensor(floats: [Float.greatestFiniteMagnitude, -.infinity], shape: [2], dtype: .bf16).floats()
        #expect(bf16[0] == .infinity && bf16[1] == -.infinity, "Float max rounds past bfloat16's max to Inf")
    }

    @Test("subnormals of each format survive the round trip")
    func subnormals() {
        let cases: [(DType, Float)] = [(.f16, 0x1p-24), (.f16, 0x1.8p-20), (.bf16, 0x1p-133), (.f8e4m3, 0x1p-9), (.f8e5m2, 0x1p-16), (.f8e5m2, 0x1.8p-15)]
        for (dtype, value) in cases {
            let back = Tensor(floats: [value, -value], shape: [2], dtype: dtype).floats()
            #expect(back == [value, -value], "\(dtype.rawValue) subnormal \(value) became \(back)")
        }
        let belowHalf = Tensor(floats: [0x1p-26, 0x1.0001p-25], shape: [2], dtype: .f16).floats()
        #expect(belowHalf == [0, 0x1p-24], "f16: below half the smallest subnormal → 0, just above half → smallest")
    }
}

extension Tensor {
    /// A tensor of 16-bit codes (f16 or bf16 bit patterns).
    init(dtype16 dtype: DType, _ codes: [UInt16]) {
        let bytes = codes.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        self = try! Tensor(dtype: dtype, shape: [codes.count], bytes: bytes)
    }

    /// The 16-bit codes of an f16 or bf16 tensor.
    func codes16() -> [UInt16] {
        withUnsafeBytes { bytes in (0..<elementCount).map { UInt16(bytes[2 * $0]) | UInt16(bytes[2 * $0 + 1]) << 8 } }
    }
}
