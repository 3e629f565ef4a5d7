/// The scale and zero point of one group of one row, and the per-element quantization they define.
///
/// All arithmetic is Float, in the order compressed-tensors uses (see `QuantizationScheme`), so
/// that a NumPy float32 implementation of the same formulas gives identical bits.
public struct GroupParameters: Sendable, Hashable {
    /// The scale s (already rounded to the scheme's scale format).
    public var scale: Float
    /// The zero point z, an integer in [qmin, qmax] (0 when symmetric), held as a Float.
    public var zero: Float

    public init(scale: Float, zero: Float) {
        self.scale = scale
        self.zero = zero
    }

    /// The code of `x`: clamp(round(x / s + z), qmin, qmax), rounding half to even.
    @inlinable @inline(__always)
    public func code(_ x: Float, codeMin: Float, codeMax: Float) -> Float {
        min(max((x / scale + zero).rounded(.toNearestOrEven), codeMin), codeMax)
    }

    /// The value a loader reconstructs from `code`: (q − z) · s.
    @inlinable @inline(__always)
    public func dequantized(_ code: Float) -> Float { (code - zero) * scale }
}

/// Fitting `GroupParameters` to values: min/max (compressed-tensors `calculate_qparams`), with an
/// optional MSE clipping search.
public enum QuantizationGrid {
    /// The parameters for `count` values at `x` (contiguous).
    /// - Parameters:
    ///   - weights: per-value weights of the clipping search's error (diag H), or nil for 1.
    ///   - clipping: the search, or nil to use the full range.
    public static func fit(
        _ x: UnsafePointer<Float>, count: Int, weights: UnsafePointer<Float>?, scheme: QuantizationScheme,
        clipping: ClippingSearch?
    ) -> GroupParameters {
        var low: Float = 0, high: Float = 0  // min(x, 0) and max(x, 0): 0 is always representable
        for k in 0..<count {
            low = min(low, x[k])
            high = max(high, x[k])
        }
        guard let clipping else { return parameters(low: low, high: high, scheme: scheme) }
        let codeMin = Float(scheme.codeMin), codeMax = Float(scheme.codeMax)
        var best = parameters(low: low, high: high, scheme: scheme)
        var bestError = Double.infinity
        for i in 0..<clipping.candidates {
            let p = clipping.shrink(i)
            let candidate = parameters(low: p * low, high: p * high, scheme: scheme)
            var error = 0.0
            for k in 0..<count {
                let difference = Double(x[k]) - Double(candidate.dequantized(candidate.code(x[k], codeMin: codeMin, codeMax: codeMax)))
                error += (weights.map { Double($0[k]) } ?? 1) * difference * difference
            }
            if error < bestError {
                bestError = error
                best = candidate
            }
        }
        return best
    }

    /// The parameters for the range [low, high] (low ≤ 0 ≤ high).
    @inlinable
    public static func parameters(low: Float, high: Float, scheme: QuantizationScheme) -> GroupParameters {
        let codeMin = Float(scheme.codeMin), codeMax = Float(scheme.codeMax)
        let levels = codeMax - codeMin  // 2^b − 1
        var scale: Float
        if scheme.symmetric {
            scale = max(abs(low), abs(high)) / (levels / 2)
        } else {
            scale = (high - low) / levels
        }
        scale = scheme.scaleFormat.rounded(scale)
        if scale == 0 { scale = scheme.scaleFormat.epsilon }
        if scheme.symmetric { return GroupParameters(scale: scale, zero: 0) }
        let zero = min(max(codeMin - low / scale, codeMin), codeMax).rounded(.toNearestOrEven)
        return GroupParameters(scale: scale, zero: zero)
    }
}
