import Foundation
import Kernels
import Testing
import TestSupport

@Suite("Error metrics")
struct ErrorMetricsTests {
    @Test("the Hessian-weighted loss is 2/n·‖X Eᵀ‖², and the SNRs follow their definitions")
    func definitions() throws {
        let problem = KernelFixtures.shared.problem("p1")
        let q = try RoundToNearest.quantize(problem.w, scheme: QuantizationScheme(bits: 3, symmetric: false, groupSize: 16)).dequantized()
        let metrics = try ErrorMetrics.measure(original: problem.w, quantized: q, hessian: try problem.statistics.hessian())
        // Directly from the tokens, in float64.
        let (n, k, tokens) = (problem.spec.rows, problem.spec.columns, problem.spec.tokens)
        var errorEnergy = 0.0, outputEnergy = 0.0, weightEnergy = 0.0, differenceEnergy = 0.0
        for t in 0..<tokens {
            for row in 0..<n {
                var e = 0.0, y = 0.0
                for c in 0..<k {
                    e += Double(problem.x[t, c]) * (Double(problem.w[row, c]) - Double(q[row, c]))
                    y += Double(problem.x[t, c]) * Double(problem.w[row, c])
                }
                errorEnergy += e * e
                outputEnergy += y * y
            }
        }
        for i in 0..<(n * k) {
            weightEnergy += Double(problem.w.values[i]) * Double(problem.w.values[i])
            differenceEnergy += pow(Double(problem.w.values[i]) - Double(q.values[i]), 2)
        }
        // H and E·H in Float: relative 1e-5.
        let expectedLoss = 2 / Double(tokens) * errorEnergy
        #expect(abs(metrics.hessianWeightedLoss - expectedLoss) <= 1e-5 * expectedLoss)
        #expect(abs(metrics.relativeOutputMSE - errorEnergy / outputEnergy) <= 1e-5 * errorEnergy / outputEnergy)
        #expect(abs(metrics.outputSNRDecibels + 10 * log10(errorEnergy / outputEnergy)) <= 1e-4)
        #expect(abs(metrics.weightSNRDecibels - 10 * log10(weightEnergy / differenceEnergy)) <= 1e-9)
        #expect(metrics.outputSNRDecibels > 0)
        #expect(throws: KernelError.self) { try ErrorMetrics.measure(original: problem.w, quantized: Matrix(rows: 1, columns: 1), hessian: []) }
    }

    @Test("per-row losses add up to half the Hessian-weighted loss, each ½·e H eᵀ computed directly")
    func rowLosses() throws {
        let problem = KernelFixtures.shared.problem("p1")
        let q = try RoundToNearest.quantize(problem.w, scheme: QuantizationScheme(bits: 3, symmetric: false, groupSize: 16)).dequantized()
        let hessian = try problem.statistics.hessian()
        let losses = ErrorMetrics.rowLosses(original: problem.w, quantized: q, hessian: hessian)
        let k = problem.w.columns
        #expect(losses.count == problem.w.rows)
        for row in 0..<problem.w.rows {
            var direct = 0.0
            for i in 0..<k {
                for j in 0..<k {
                    let ei = Double(problem.w[row, i]) - Double(q[row, i]), ej = Double(problem.w[row, j]) - Double(q[row, j])
                    direct += ei * Double(hessian[i * k + j]) * ej
                }
            }
            // E·H in Float against float64 throughout: relative 1e-5.
            #expect(abs(losses[row] - direct / 2) <= 1e-5 * abs(direct / 2) + 1e-12, "row \(row): \(losses[row]) vs \(direct / 2)")
        }
        let total = try ErrorMetrics.hessianWeightedLoss(Matrix(rows: q.rows, columns: k, values: zip(problem.w.values, q.values).map { $0 - $1 }), hessian: hessian)
        #expect(abs(losses.reduce(0, +) * 2 - total) <= 1e-5 * total)
    }

    @Test("the squared error per segment is exact in fixed point, and any split of the segments adds to the same total")
    func squaredError() {
        var generator = SplitMix64(seed: 5)
        let (rows, columns) = (9, 7)
        let a = Matrix(rows: rows, columns: columns, values: (0..<(rows * columns)).map { _ in generator.float() })
        let b = Matrix(rows: rows, columns: columns, values: (0..<(rows * columns)).map { _ in generator.float() })
        let segments = [0..<4, 4..<5, 5..<9]
        let whole = ErrorMetrics.squaredError(a, b, segments: segments)
        var parts: Int128 = 0
        for segment in segments.reversed() { parts &+= ErrorMetrics.squaredError(a, b, segments: [segment]) }
        #expect(parts == whole)
        var direct = 0.0
        for i in 0..<(rows * columns) { direct += pow(Double(a.values[i]) - Double(b.values[i]), 2) }
        #expect(abs(FixedPointSum.double(whole) - direct) <= 1e-12 * direct)
        #expect(ErrorMetrics.squaredError(a, a, segments: segments) == 0)
    }
}
