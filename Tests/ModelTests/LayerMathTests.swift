import Checkpoint
import Foundation
import Kernels
@testable import Model
import ModelConfiguration
import Testing
import TestSupport

@Suite("Elementwise kernels and the chunk plan")
struct LayerMathTests {
    /// Cephes's expf is accurate to about 2 ulp of float32 (2⁻²³ ≈ 1.2e-7 per ulp); 4e-7 bounds it.
    static let expTolerance = 4e-7

    @Test("int8 per-token activation quantization follows compressed-tensors' symmetric grid")
    func perTokenInt8() throws {
        let config = try FixtureModel.llama.source().config
        let executor = try LayerExecutor(config: config, states: HiddenStates(batch: try SequenceBatch(lengths: [1]), values: Matrix(rows: 1, columns: config.hiddenSize)))
        let (rows, width) = (5, 96)
        var generator = SplitMix64(seed: 9)
        var x = generator.floats(rows * width)  // in [−1, 1)
        for j in 0..<width { x[2 * width + j] = 0 }  // a silent token
        x[3 * width + 5] = 40  // an outlier: the token's other values fall on few codes
        let int8 = try QuantizationScheme(bits: 8, symmetric: true, groupSize: -1)
        let quantized = Array(UnsafeBufferPointer(start: x.withUnsafeBufferPointer { executor.quantizedActivations($0.baseAddress!, rows: rows, width: width, scheme: int8) },
                                                  count: rows * width))
        // compressed-tensors, symmetric int8, strategy token: scale = max|x| / ((127 − (−128)) / 2),
        // q = clamp(round(x / scale), −128, 127) rounding half to even, x̂ = q · scale.
        var differing = 0
        for r in 0..<rows {
            let row = x[(r * width)..<((r + 1) * width)]
            let scale = Double(row.map(abs).max()!) / 127.5
            for j in 0..<width {
                let q = scale == 0 ? 0 : min(127, max(-128, (Double(x[r * width + j]) / scale).rounded(.toNearestOrEven)))
                let expected = q * scale
                let got = Double(quantized[r * width + j])
                // Float vs Double arithmetic can only move a value lying on a rounding tie, by one step.
                #expect(abs(got - expected) <= scale * 1.0001 + 1e-12, "row \(r) column \(j): \(got), expected \(expected)")
                // Same code: equal up to Float rounding — of the scale and of q·scale, each 2⁻²⁴
                // relative on at most 128 steps: ≤ 2 · 128 · 2⁻²⁴ of a step.
                if abs(got - expected) > 0.5 * scale { differing += 1 } else { #expect(abs(got - expected) <= 2 * 128 * 0x1p-24 * scale + 1e-12) }
            }
        }
        #expect(differing <= 2, "\(differing) of \(rows * width) codes differ from the reference")
        #expect(quantized[(2 * width)..<(3 * width)].allSatisfy { $0 == 0 })
        // The outlier sits at 127.5 steps, a tie that rounds to even 128, clamped to 127.
        #expect(abs(Double(quantized[3 * width + 5]) - 127 * 40 / 127.5) < 1e-5)
    }

    @Test("vector exp matches exp in Double over the whole range it serves")
    func exponential() {
        var worst = 0.0
        var x: Float = -87
        while x < 88 {
            let v = SIMD8<Float>((0..<8).map { x + Float($0) * 1e-3 })
            let e = VectorExp.exp(v)
            for lane in 0..<8 {
                let exact = Foundation.exp(Double(v[lane]))
                worst = max(worst, abs(Double(e[lane]) - exact) / exact)
            }
            x += 0.0371
        }
        #expect(worst < Self.expTolerance, "largest relative error \(worst)")
        #expect(VectorExp.exp(SIMD8(repeating: 0)) == SIMD8(repeating: 1))
        // Clamped ends: tiny but positive below −87.34, large but finite above 88.
        #expect(VectorExp.exp(SIMD8(repeating: -1000)).min() > 0)
        #expect(VectorExp.exp(SIMD8(repeating: 1000)).max().isFinite)
    }

    @Test("vector sums of exponentials, maxima and silu match plain loops, tails included", arguments: [1, 7, 8, 9, 31, 100])
    func reductions(count: Int) {
        let values = (0..<count).map { Float(($0 * 37) % 23) * 0.43 - 5 }
        let maximum = values.max()!
        #expect(values.withUnsafeBufferPointer { VectorExp.maximum($0.baseAddress!, count: count) } == maximum)
        let exact = values.reduce(0.0) { $0 + Foundation.exp(Double($1 - maximum)) }
        let sum = values.withUnsafeBufferPointer { VectorExp.sumOfExponentials($0.baseAddress!, count: count, subtracting: maximum) }
        #expect(abs(sum - exact) / exact < Self.expTolerance)
        var exponentiated = values
        let floatSum = exponentiated.withUnsafeMutableBufferPointer { VectorExp.exponentiate($0.baseAddress!, count: count, subtracting: maximum) }
        #expect(abs(Double(floatSum) - exact) / exact < 1e-6)
        for (e, v) in zip(exponentiated, values) { #expect(abs(Double(e) - Foundation.exp(Double(v - maximum))) <= Self.expTolerance * Foundation.exp(Double(v - maximum))) }

        var gate = values
        let up = values.map { 1 - $0 / 7 }
        gate.withUnsafeMutableBufferPointer { g in up.withUnsafeBufferPointer { LayerMath.siluMultiply(gate: g.baseAddress!, up: $0.baseAddress!, count: count) } }
        for i in 0..<count {
            let x = Double(values[i])
            let expected = x / (1 + Foundation.exp(-x)) * Double(up[i])
            #expect(abs(Double(gate[i]) - expected) <= 1e-6 * max(1, abs(expected)))
        }
    }

    @Test("RMSNorm matches its definition in Double")
    func rmsNorm() {
        let (rows, width) = (3, 37)
        let x = (0..<(rows * width)).map { Float(($0 * 13) % 17) - 8.5 }
        let weight = (0..<width).map { 1 + Float($0) / 50 }
        var out = [Float](repeating: 0, count: rows * width)
        LayerMath.rmsNorm(rows: rows, width: width, x: x, ldx: width, weight: weight, eps: 1e-5, out: &out, ldo: width)
        for r in 0..<rows {
            let row = x[(r * width)..<((r + 1) * width)].map(Double.init)
            let scale = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(width) + 1e-5).squareRoot()
            for j in 0..<width {
                #expect(abs(Double(out[r * width + j]) - Double(weight[j]) * row[j] * scale) < 1e-6)
            }
        }
    }

    @Test("the first non-finite value is found wherever it is", arguments: [0, 15, 16, 17, 99])
    func nonFinite(position: Int) {
        var values = [Float](repeating: 1.5, count: 100)
        #expect(values.withUnsafeBufferPointer { LayerMath.firstNonFinite($0) } == nil)
        values[position] = .nan
        values[99] = .infinity
        #expect(values.withUnsafeBufferPointer { LayerMath.firstNonFinite($0) } == position)
    }

    @Test("the plan packs short sequences, splits long ones, and covers every token once")
    func chunkPlan() throws {
        let batch = try SequenceBatch(lengths: [3, 4, 2, 11, 1])
        let plan = ChunkPlan(batch: batch, chunkTokens: 8)
        #expect(plan.groups.map(\.sequences) == [0..<2, 2..<3, 3..<4, 4..<5])
        #expect(plan.groups.map(\.tokens) == [0..<7, 7..<9, 9..<20, 20..<21])
        #expect(plan.pieces == [0..<7, 7..<9, 9..<17, 17..<20, 20..<21])
        #expect(plan.maxGroupTokens == 11 && plan.maxPieceTokens == 8)
        #expect(ChunkPlan.inPlaceOrder([1, 2, 3], inWidth: 4, outWidth: 8) == [3, 2, 1])
        #expect(ChunkPlan.inPlaceOrder([1, 2, 3], inWidth: 8, outWidth: 4) == [1, 2, 3])
    }
}
