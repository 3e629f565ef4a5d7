import Foundation
import Testing
@testable import Wire

@Suite("XXH64")
struct XXH64Tests {
    struct Case: Decodable {
        let length: Int
        let seed: String
        let hash: String
    }

    struct FixtureFile: Decodable {
        let cases: [Case]
    }

    /// The pattern Tests/Reference/xxh64_reference.py hashes.
    static func pattern(_ count: Int) -> [UInt8] {
        (0..<count).map { (i: Int) -> UInt8 in
            let value: Int = i * 131 + (i >> 8) * 7 + 13
            return UInt8(value % 256)
        }
    }

    @Test("matches the reference written from the spec, at every branch's edge lengths")
    func matchesReference() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("xxh64.json")))
        let cases = try JSONDecoder().decode(FixtureFile.self, from: data).cases
        #expect(cases.count == 62)
        for item in cases {
            let seed = UInt64(item.seed.dropFirst(2), radix: 16)!
            let expected = UInt64(item.hash.dropFirst(2), radix: 16)!
            let got = Self.pattern(item.length).withUnsafeBytes { XXH64.hash($0, seed: seed) }
            #expect(got == expected, "length \(item.length) seed \(item.seed): expected \(item.hash), got 0x\(String(got, radix: 16))")
        }
    }

    @Test("published values")
    func publishedValues() {
        #expect([UInt8]().withUnsafeBytes { XXH64.hash($0) } == 0xEF46_DB37_51D8_E999)
        #expect(Array("abc".utf8).withUnsafeBytes { XXH64.hash($0) } == 0x44BC_2CF5_AD77_0999)
    }

    @Test("does not depend on the buffer's alignment")
    func unaligned() {
        let bytes = Self.pattern(300)
        let reference = bytes.withUnsafeBytes { XXH64.hash($0) }
        var shifted = [UInt8](repeating: 0, count: 1) + bytes
        shifted.withUnsafeMutableBytes { buffer in
            #expect(XXH64.hash(UnsafeRawBufferPointer(rebasing: buffer[1...])) == reference)
        }
    }
}
