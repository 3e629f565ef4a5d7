#if canImport(Glibc)
import Glibc
#endif

/// SmoothQuant (Xiao et al. 2022): migrate activation outliers into the weights with a
/// per-input-channel scale that the previous op absorbs, so that both quantize well.
///
///   a_j  max |x_j| over the calibration tokens (ActivationStatistics.absMax, exact across workers)
///   w_j  max over the rows of the group's stacked weights of |W_ij|, at least 10⁻⁵
///   s_j  a_j^α / w_j^(1−α), at least 10⁻⁵ (α = 0.5 by default)
/// The previous RMSNorm's weight is divided by s and the linears' columns multiplied by s:
/// diag(s)⁻¹ then W·diag(s) leaves the layer's output unchanged up to float rounding.
public enum SmoothQuant {
    /// The smoothing scales of one group.
    public static func scales(activationMax: [Float], weights: [Matrix], alpha: Float) -> [Float] {
        let k = activationMax.count
        precondition(weights.allSatisfy { $0.columns == k }, "SmoothQuant.scales: weights must have \(k) columns")
        var weightMax = [Float](repeating: 0, count: k)
        for w in weights {
            w.values.withUnsafeBufferPointer { values in
                for r in 0..<w.rows { for j in 0..<k { weightMax[j] = max(weightMax[j], abs(values[r * k + j])) } }
            }
        }
        return (0..<k).map { j in
            max(powf(activationMax[j], alpha) / powf(max(weightMax[j], 1e-5), 1 - alpha), 1e-5)
        }
    }
}
