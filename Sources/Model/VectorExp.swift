/// exp(x) on eight floats at once (the Cephes `expf` method, S. Moshier): write x = n·ln2 + r
/// with n = round(x·log₂e) and |r| ≤ ln2/2, evaluate e^r by Cephes's degree-6 polynomial
/// (relative error ≈ 1e-7), and multiply by 2ⁿ built directly in the exponent bits.
///
/// Input is clamped to [−87.33654, 88]: below, the result is the smallest normal float scale
/// (≈ 1e-38) instead of an underflow to 0; above, ≈ 1.65e38 instead of an overflow. Every use in
/// the forward pass (softmax of x − max ≤ 0, silu, log-sum-exp) is insensitive to either.
/// The scalar loops it replaces spent ~25 % of a 1B layer's time in `expf` at 2048 tokens.
enum VectorExp {
    /// 1.5·2²³: adding it rounds a float of magnitude < 2²² to an integer (to nearest even), which
    /// then sits in the low mantissa bits.
    private static let roundingShift: Float = 12_582_912
    private static let roundingShiftBits: Int32 = 0x4B40_0000

    @inline(__always)
    static func exp(_ input: SIMD8<Float>) -> SIMD8<Float> {
        var x = input
        x.replace(with: -87.33654, where: x .< -87.33654)
        x.replace(with: 88, where: x .> 88)
        let shifted = x * 1.442_695_04 + roundingShift
        let n = shifted - roundingShift
        // ln2 split in a part exact in float (0.693359375) and the remainder, so that x − n·ln2 is exact.
        var r = x - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        let r2 = r * r
        var p = SIMD8<Float>(repeating: 1.987_569_150_0e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let er = p * r2 + r + 1
        let exponent = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- roundingShiftBits &+ 127) &<< 23
        return er * unsafeBitCast(exponent, to: SIMD8<Float>.self)
    }

    /// x[i] ← exp(x[i] − shift) for `count` values; returns their sum (float lanes).
    static func exponentiate(_ x: UnsafeMutablePointer<Float>, count: Int, subtracting shift: Float) -> Float {
        var sums = SIMD8<Float>()
        var i = 0
        let raw = UnsafeMutableRawPointer(x)
        while i + 8 <= count {
            let e = exp(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - shift)
            raw.storeBytes(of: e, toByteOffset: i * 4, as: SIMD8<Float>.self)
            sums += e
            i += 8
        }
        var sum = sums.sum()
        if i < count {
            var tail = SIMD8<Float>(repeating: 0)
            for lane in 0..<(count - i) { tail[lane] = x[i + lane] - shift }
            let e = exp(tail)
            for lane in 0..<(count - i) {
                x[i + lane] = e[lane]
                sum += e[lane]
            }
        }
        return sum
    }

    /// Σ exp(x[i] − shift) over `count` values, the exponentials in float, the sum in Double.
    static func sumOfExponentials(_ x: UnsafePointer<Float>, count: Int, subtracting shift: Float) -> Double {
        var sums = SIMD4<Double>()
        var i = 0
        let raw = UnsafeRawPointer(x)
        while i + 8 <= count {
            let e = exp(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - shift)
            sums += SIMD4<Double>(e.lowHalf) + SIMD4<Double>(e.highHalf)
            i += 8
        }
        var sum = sums.sum()
        if i < count {
            var tail = SIMD8<Float>(repeating: 0)
            for lane in 0..<(count - i) { tail[lane] = x[i + lane] - shift }
            let e = exp(tail)
            for lane in 0..<(count - i) { sum += Double(e[lane]) }
        }
        return sum
    }

    /// The largest of `count` values (−∞ for none).
    static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        let raw = UnsafeRawPointer(x)
        while i + 8 <= count {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            lanes.replace(with: v, where: v .> lanes)
            i += 8
        }
        var result = lanes.max()
        while i < count {
            result = Swift.max(result, x[i])
            i += 1
        }
        return result
    }
}
