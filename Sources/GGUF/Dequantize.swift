import Tensors

/// Dequantization of GGUF tensor data to Float, block by block, following ggml's reference
/// `dequantize_row_*` (ggml-quants.c) in the same order of Float operations as the `gguf` Python
/// package, so results agree bit for bit (tested). Scales are f16 widened exactly.
package enum Dequantize {
    /// `count` values of `type` from `source`, which must hold exactly their blocks.
    ///
    /// `GGUFFile` validates every tensor's extent before it gets here; the check is repeated
    /// because a dequantizer reads whole blocks through raw pointers, so a short buffer would be
    /// read past its end (found by the `gguf-dequantize` fuzz target).
    /// - Parameters:
    ///   - file, tensor: named in errors.
    /// - Throws: `GGUFError.badTensor` when `count` is not a whole number of blocks or `source`
    ///   does not hold exactly `count / blockSize` blocks.
    package static func floats(_ source: UnsafeRawBufferPointer, type: GGMLType, count: Int, file: String, tensor: String) throws(GGUFError) -> [Float] {
        guard count >= 0, count % type.blockSize == 0 else {
            throw GGUFError(.badTensor, file: file, "tensor \"\(tensor)\": \(count) values are not whole \(type.name) blocks of \(type.blockSize)")
        }
        let needed = count / type.blockSize * type.blockBytes
        guard source.count == needed else {
            throw GGUFError(.badTensor, file: file, "tensor \"\(tensor)\": \(count) \(type.name) values need \(needed) bytes, the data holds \(source.count)")
        }
        return floats(validated: source, type: type, count: count)
    }

    /// `floats(_:type:count:file:tensor:)` once the sizes are checked.
    private static func floats(validated source: UnsafeRawBufferPointer, type: GGMLType, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { output, initialized in
            let blocks = count / type.blockSize
            guard let base = source.baseAddress, let out = output.baseAddress else {
                initialized = 0
                return
            }
            switch type {
            case .f32: UnsafeMutableRawPointer(out).copyMemory(from: base, byteCount: count * 4)
            case .f16: HalfConversion.float16ToFloat32(source, into: output)
            case .bf16: HalfConversion.bfloat16ToFloat32(source, into: output)
            case .q4_0: for b in 0..<blocks { q4_0(base + b * 18, out + b * 32) }
            case .q4_1: for b in 0..<blocks { q4_1(base + b * 20, out + b * 32) }
            case .q5_0: for b in 0..<blocks { q5_0(base + b * 22, out + b * 32) }
            case .q5_1: for b in 0..<blocks { q5_1(base + b * 24, out + b * 32) }
            case .q8_0: for b in 0..<blocks { q8_0(base + b * 34, out + b * 32) }
            case .q4_K: for b in 0..<blocks { q4_K(base + b * 144, out + b * 256) }
            case .q5_K: for b in 0..<blocks { q5_K(base + b * 176, out + b * 256) }
            case .q6_K: for b in 0..<blocks { q6_K(base + b * 210, out + b * 256) }
            }
            initialized = count
        }
    }

    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
    }

    @inline(__always)
    static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 { p.load(fromByteOffset: offset, as: UInt8.self) }

    /// x = (q − 8)·d, low nibbles first.
    static func q4_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<16 {
            let q = byte(p, 2 + j)
            y[j] = d * Float(Int(q & 0x0F) - 8)
            y[j + 16] = d * Float(Int(q >> 4) - 8)
        }
    }

    /// x = q·d + m.
    static func q4_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let (d, m) = (half(p, 0), half(p, 2))
        for j in 0..<16 {
            let q = byte(p, 4 + j)
            y[j] = d * Float(q & 0x0F) + m
            y[j + 16] = d * Float(q >> 4) + m
        }
    }

    /// x = (q − 16)·d, the fifth bit of value j in bit j of qh.
    static func q5_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        for j in 0..<16 {
            let q = byte(p, 6 + j)
            let low = Int(q & 0x0F) | Int((qh >> UInt32(j)) & 1) << 4
            let high = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(low - 16)
            y[j + 16] = d * Float(high - 16)
        }
    }

    /// x = q·d + m, five bits as in Q5_0.
    static func q5_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let (d, m) = (half(p, 0), half(p, 2))
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        for j in 0..<16 {
            let q = byte(p, 8 + j)
            let low = UInt32(q & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
            let high = UInt32(q >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(low) + m
            y[j + 16] = d * Float(high) + m
        }
    }

    /// x = q·d, q signed bytes.
    static func q8_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<32 { y[j] = Float(Int8(bitPattern: byte(p, 2 + j))) * d }
    }

    /// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (ggml's `get_scale_min_k4`).
    @inline(__always)
    static func scaleMin(_ scales: UnsafeRawPointer, _ j: Int) -> (Float, Float) {
        if j < 4 {
            return (Float(byte(scales, j) & 63), Float(byte(scales, j + 4) & 63))
        }
        let scale = (byte(scales, j + 4) & 0x0F) | ((byte(scales, j - 4) >> 6) << 4)
        let min = (byte(scales, j + 4) >> 4) | ((byte(scales, j) >> 6) << 4)
        return (Float(scale), Float(min))
    }

    /// 8 sub-blocks of 32: x = (d·scale)·q − dmin·min, 4-bit q.
    static func q4_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let (d, dmin) = (half(p, 0), half(p, 2))
        let scales = p + 4
        let qs = p + 16
        for chunk in 0..<4 {
            let (s1, m1) = scaleMin(scales, 2 * chunk)
            let (s2, m2) = scaleMin(scales, 2 * chunk + 1)
            let (d1, min1, d2, min2) = (d * s1, dmin * m1, d * s2, dmin * m2)
            for l in 0..<32 {
                let q = byte(qs, 32 * chunk + l)
                y[64 * chunk + l] = d1 * Float(q & 0x0F) - min1
                y[64 * chunk + 32 + l] = d2 * Float(q >> 4) - min2
            }
        }
    }

    /// As Q4_K with a fifth bit per value from qh (bit 2·chunk for the low half, 2·chunk+1 for the high).
    static func q5_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let (d, dmin) = (half(p, 0), half(p, 2))
        let scales = p + 4
        let qh = p + 16
        let qs = p + 48
        for chunk in 0..<4 {
            let (s1, m1) = scaleMin(scales, 2 * chunk)
            let (s2, m2) = scaleMin(scales, 2 * chunk + 1)
            let (d1, min1, d2, min2) = (d * s1, dmin * m1, d * s2, dmin * m2)
            for l in 0..<32 {
                let q = byte(qs, 32 * chunk + l)
                let h = byte(qh, l)
                let low = UInt32(q & 0x0F) | UInt32((h >> UInt8(2 * chunk)) & 1) << 4
                let high = UInt32(q >> 4) | UInt32((h >> UInt8(2 * chunk + 1)) & 1) << 4
                y[64 * chunk + l] = d1 * Float(low) - min1
                y[64 * chunk + 32 + l] = d2 * Float(high) - min2
            }
        }
    }

    /// 16 sub-blocks of 16 with signed 8-bit scales: x = (d·scale)·(q − 32), 6-bit q from ql and qh.
    static func q6_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 208)
        for half128 in 0..<2 {
            let ql = p + 64 * half128
            let qh = p + 128 + 32 * half128
            let scales = p + 192 + 8 * half128
            let out = y + 128 * half128
            for l in 0..<32 {
                let s = l / 16
                let h = byte(qh, l)
                let q1 = Int(byte(ql, l) & 0x0F) | Int(h & 3) << 4
                let q2 = Int(byte(ql, l + 32) & 0x0F) | Int((h >> 2) & 3) << 4
                let q3 = Int(byte(ql, l) >> 4) | Int((h >> 4) & 3) << 4
                let q4 = Int(byte(ql, l + 32) >> 4) | Int((h >> 6) & 3) << 4
                out[l] = (d * Float(Int8(bitPattern: byte(scales, s)))) * Float(q1 - 32)
                out[l + 32] = (d * Float(Int8(bitPattern: byte(scales, s + 2)))) * Float(q2 - 32)
                out[l + 64] = (d * Float(Int8(bitPattern: byte(scales, s + 4)))) * Float(q3 - 32)
                out[l + 96] = (d * Float(Int8(bitPattern: byte(scales, s + 6)))) * Float(q4 - 32)
            }
        }
    }
}
