import Foundation
import Kernels
import Testing

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
}
