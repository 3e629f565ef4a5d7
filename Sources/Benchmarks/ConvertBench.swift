import ArgumentParser
import Tensors

#if canImport(Glibc)
import Glibc
#endif

/// Throughput of the dtype conversions next to memcpy of the same bytes.
struct ConvertBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "bf16/f16/fp8 <-> f32 conversion throughput next to memcpy (GB/s of bytes read + written).")

    @Option(help: "Elements per conversion.")
    var elements = 64 * 1024 * 1024

    @Option(help: "Repetitions; the fastest is reported.")
    var repetitions = 5

    func run() throws {
        let n = elements
        var floats = [Float](repeating: 0, count: n)
        for i in 0..<n { floats[i] = Float(i % 4099) * 0.37 - 700 }
        var narrow = [UInt8](repeating: 0, count: 2 * n)
        var wide = [Float](repeating: 0, count: n)

        print("conversion of \(n) elements, fastest of \(repetitions); GB/s counts bytes read + written")
        let copySeconds = fastest(of: repetitions) { r in
            floats[r] = Float(r)
            floats.withUnsafeBytes { source in wide.withUnsafeMutableBytes { $0.copyMemory(from: source) } }
        }
        report("memcpy f32 (reference)", bytes: 8 * n, seconds: copySeconds, reference: copySeconds)

        let cases: [(String, Int, (Int) -> Void)] = [
            ("f32 -> bf16", 6, { r in floats[r] = Float(r); floats.withUnsafeBufferPointer { s in narrow.withUnsafeMutableBytes { HalfConversion.float32ToBFloat16(s, into: $0) } } }),
            ("bf16 -> f32", 6, { r in narrow[r] = UInt8(r); narrow.withUnsafeBytes { s in wide.withUnsafeMutableBufferPointer { HalfConversion.bfloat16ToFloat32(s, into: $0) } } }),
            ("f32 -> f16", 6, { r in floats[r] = Float(r); floats.withUnsafeBufferPointer { s in narrow.withUnsafeMutableBytes { HalfConversion.float32ToFloat16(s, into: $0) } } }),
            ("f16 -> f32", 6, { r in narrow[r] = UInt8(r); narrow.withUnsafeBytes { s in wide.withUnsafeMutableBufferPointer { HalfConversion.float16ToFloat32(s, into: $0) } } }),
            ("f32 -> f8_e4m3", 5, { r in floats[r] = Float(r); floats.withUnsafeBufferPointer { s in narrow.withUnsafeMutableBytes { Float8Conversion.narrow(s, format: .e4m3, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<n])) } } }),
            ("f8_e4m3 -> f32", 5, { r in narrow[r] = UInt8(r); narrow.withUnsafeBytes { s in wide.withUnsafeMutableBufferPointer { Float8Conversion.widen(UnsafeRawBufferPointer(rebasing: s[0..<n]), table: Float8Conversion.e4m3Table, into: $0) } } }),
        ]
        for (name, bytesPerElement, body) in cases {
            report(name, bytes: bytesPerElement * n, seconds: fastest(of: repetitions, body), reference: copySeconds * Double(bytesPerElement) / 8)
        }
        // Keep the outputs observable.
        if wide[n / 2].isNaN && narrow[n / 3] == 255 { print("") }
    }

    private func report(_ name: String, bytes: Int, seconds: Double, reference: Double) {
        let gbps = Double(bytes) / seconds / 1e9
        let elementsPerSecond = Double(elements) / seconds / 1e9
        print("  \(pad(name, 24)) \(pad(format(gbps) + " GB/s", 12)) \(pad(format(elementsPerSecond) + " Gelem/s", 14)) \(format(reference / seconds * 100, 0))% of memcpy speed")
    }
}
