/// The elementwise parts of a decoder layer over raw row-major buffers: RMSNorm, bias, SwiGLU's
/// product, a finiteness scan. Matrix products go through BLAS elsewhere; these loops touch
/// every value once and allocate nothing.
enum LayerMath {
    /// RMSNorm of each row (Zhang & Sennrich 2019, as transformers computes it in float32):
    /// out = w ⊙ (x / sqrt(mean(x²) + eps)). `out` may equal `x`.
    /// - Parameters:
    ///   - x, out: `rows` rows of `width` values with row strides `ldx`, `ldo`.
    ///   - weight: `width` values.
    static func rmsNorm(rows: Int, width: Int, x: UnsafePointer<Float>, ldx: Int, weight: UnsafePointer<Float>,
                        eps: Float, out: UnsafeMutablePointer<Float>, ldo: Int) {
        for r in 0..<rows {
            let row = x + r * ldx
            let scale = 1 / (sumOfSquares(row, width) / Float(width) + eps).squareRoot()
            let destination = out + r * ldo
            for j in 0..<width { destination[j] = weight[j] * (row[j] * scale) }
        }
    }

    /// Σ x² in eight float lanes (the lanes bound the rounding error to that of n/8-term sums).
    @inline(__always)
    static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var lanes = SIMD8<Float>()
        var j = 0
        let raw = UnsafeRawPointer(x)
        while j + 8 <= n {
            let v = raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
            lanes.addProduct(v, v)
            j += 8
        }
        var sum = lanes.sum()
        while j < n {
            sum += x[j] * x[j]
            j += 1
        }
        return sum
    }

    /// y[r, j] += bias[j] for `rows` rows of `width` values with row stride `ldy`.
    static func addBias(rows: Int, width: Int, y: UnsafeMutablePointer<Float>, ldy: Int, bias: UnsafePointer<Float>) {
        for r in 0..<rows {
            let row = y + r * ldy
            for j in 0..<width { row[j] += bias[j] }
        }
    }

    /// gate ← silu(gate) ⊙ up, the SwiGLU product (silu(x) = x·σ(x) = x / (1 + e⁻ˣ)).
    static func siluMultiply(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        let g = UnsafeMutableRawPointer(gate)
        let u = UnsafeRawPointer(up)
        var i = 0
        while i + 8 <= count {
            let x = g.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            let y = x / (1 + VectorExp.exp(-x)) * u.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            g.storeBytes(of: y, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        if i < count {
            var x = SIMD8<Float>(repeating: 0)
            for lane in 0..<(count - i) { x[lane] = gate[i + lane] }
            let s = x / (1 + VectorExp.exp(-x))
            for lane in 0..<(count - i) { gate[i + lane] = s[lane] * up[i + lane] }
        }
    }

    /// The index of the first NaN or ±Inf, or nil. A vectorized pass first sums x·0, which is 0
    /// for every finite x and NaN otherwise; only a buffer that fails it is searched.
    static func firstNonFinite(_ x: UnsafeBufferPointer<Float>) -> Int? {
        guard let base = x.baseAddress else { return nil }
        let raw = UnsafeRawPointer(base)
        var lanes = SIMD16<Float>()
        var i = 0
        while i + 16 <= x.count {
            lanes += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) * 0
            i += 16
        }
        var tail: Float = 0
        while i < x.count {
            tail += x[i] * 0
            i += 1
        }
        if !(lanes.sum() + tail).isNaN { return nil }
        return x.firstIndex { !$0.isFinite }
    }
}
