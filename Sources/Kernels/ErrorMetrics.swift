#if canImport(Glibc)
import Glibc
#endif

/// How far quantized weights are from the originals, measured where it matters: on the layer's
/// outputs for the calibration inputs.
public struct QuantizationErrorMetrics: Sendable, Equatable {
    /// tr((W − Q) H (W − Q)ᵀ) with H = 2·XᵀX/n: twice the mean over tokens of ‖(W − Q) x‖².
    public var hessianWeightedLoss: Double
    /// ‖X (W − Q)ᵀ‖² / ‖X Wᵀ‖² = tr(E H Eᵀ) / tr(W H Wᵀ).
    public var relativeOutputMSE: Double
    /// −10 · log10(relativeOutputMSE): the output signal-to-noise ratio in dB.
    public var outputSNRDecibels: Double
    /// 10 · log10(‖W‖² / ‖W − Q‖²): the weights' signal-to-noise ratio in dB.
    public var weightSNRDecibels: Double
}

/// Error metrics of a quantized weight matrix.
public enum ErrorMetrics {
    /// The metrics of `quantized` (dequantized weights) against `original`, both N×K, for the Hessian
    /// `hessian` (K×K, row-major, symmetric; e.g. `ActivationStatistics.hessian()`).
    /// - Throws: `KernelError.invalidArgument` when shapes differ.
    public static func measure(original: Matrix, quantized: Matrix, hessian: [Float]) throws(KernelError) -> QuantizationErrorMetrics {
        guard original.rows == quantized.rows, original.columns == quantized.columns, hessian.count == original.columns * original.columns else {
            throw KernelError(.invalidArgument, "error metrics: weights \(original.rows)×\(original.columns) and \(quantized.rows)×\(quantized.columns), Hessian of \(hessian.count) entries")
        }
        var difference = original
        var signal = 0.0, noise = 0.0
        for i in 0..<difference.values.count {
            difference.values[i] -= quantized.values[i]
            signal += Double(original.values[i]) * Double(original.values[i])
            noise += Double(difference.values[i]) * Double(difference.values[i])
        }
        let loss = try hessianWeightedLoss(difference, hessian: hessian)
        let reference = try hessianWeightedLoss(original, hessian: hessian)
        let relative = reference > 0 ? loss / reference : (loss == 0 ? 0 : .infinity)
        return QuantizationErrorMetrics(
            hessianWeightedLoss: loss, relativeOutputMSE: relative, outputSNRDecibels: -10 * log10(relative),
            weightSNRDecibels: 10 * log10(signal / noise))
    }

    /// tr(E H Eᵀ) = Σ_n e_n H e_nᵀ for E N×K and H K×K symmetric: E·H through sgemm, 256 rows at a
    /// time, then Σ (E·H) ∘ E in float64.
    public static func hessianWeightedLoss(_ e: Matrix, hessian: [Float]) throws(KernelError) -> Double {
        let (rows, k) = (e.rows, e.columns)
        guard hessian.count == k * k else {
            throw KernelError(.invalidArgument, "Hessian-weighted loss: a \(rows)×\(k) matrix needs a \(k)×\(k) Hessian, found \(hessian.count) entries")
        }
        let tile = 256
        var product = [Float](repeating: 0, count: min(tile, max(rows, 1)) * k)
        var total = 0.0
        e.values.withUnsafeBufferPointer { e in
            hessian.withUnsafeBufferPointer { h in
                product.withUnsafeMutableBufferPointer { p in
                    for r0 in stride(from: 0, to: rows, by: tile) {
                        let count = min(tile, rows - r0)
                        BLAS.sgemm(m: count, n: k, k: k, a: e.baseAddress! + r0 * k, lda: k, b: h.baseAddress!, ldb: k,
                                   c: p.baseAddress!, ldc: k)
                        for i in 0..<(count * k) { total += Double(p[i]) * Double(e[r0 * k + i]) }
                    }
                }
            }
        }
        return total
    }

    /// ½·e H eᵀ for each row e of `original` − `quantized` (N×K, H K×K): the Hessian-weighted loss
    /// GPTQ reports per row, for RTN. One sgemm of E·H, then each row's Σ (E·H) ∘ E in float64.
    public static func rowLosses(original: Matrix, quantized: Matrix, hessian: [Float]) -> [Double] {
        precondition(original.rows == quantized.rows && original.columns == quantized.columns && hessian.count == original.columns * original.columns,
                     "rowLosses: \(original.rows)×\(original.columns) and \(quantized.rows)×\(quantized.columns) weights, \(hessian.count) Hessian entries")
        let (rows, k) = (original.rows, original.columns)
        let error = zip(original.values, quantized.values).map { $0 - $1 }
        var product = [Float](repeating: 0, count: rows * k)
        BLAS.sgemm(m: rows, n: k, k: k, a: error, lda: k, b: hessian, ldb: k, c: &product, ldc: k)
        return (0..<rows).map { r in
            var sum = 0.0
            for j in (r * k)..<((r + 1) * k) { sum += Double(error[j]) * Double(product[j]) }
            return sum / 2
        }
    }

    /// Σ (a − b)² over the rows in `segments` (a and b of one shape): summed in float64 per
    /// segment (a sequence), each segment's sum added as an exact fixed-point part
    /// (`FixedPointSum`), so that segments summed on any split of workers add to the same total.
    public static func squaredError(_ a: Matrix, _ b: Matrix, segments: [Range<Int>]) -> Int128 {
        precondition(a.rows == b.rows && a.columns == b.columns && segments.allSatisfy { $0.lowerBound >= 0 && $0.upperBound <= a.rows },
                     "squaredError: \(a.rows)×\(a.columns) and \(b.rows)×\(b.columns), segments \(segments)")
        let width = a.columns
        var total: Int128 = 0
        a.values.withUnsafeBufferPointer { a in
            b.values.withUnsafeBufferPointer { b in
                for rows in segments {
                    var sum = 0.0
                    for index in (rows.lowerBound * width)..<(rows.upperBound * width) {
                        let d = Double(a[index]) - Double(b[index])
                        sum += d * d
                    }
                    total &+= FixedPointSum.fixed(sum)
                }
            }
        }
        return total
    }
}
