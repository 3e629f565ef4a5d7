import Checkpoint
import Foundation
import Kernels
import Tensors
import Testing
import TestSupport

/// AWQ's and SmoothQuant's kernels against Tests/Reference/awq_reference.py
/// (fixtures: make_awq_fixtures.py).
@Suite("AWQ and SmoothQuant kernels")
struct AWQTests {
    static let file = try! SafetensorsFile(path: Bundle.module.resourcePath! + "/Fixtures/awq.safetensors")
    static func floats(_ name: String) -> [Float] { try! file.tensor(name).floats() }
    static func matrix(_ name: String) -> Matrix {
        let tensor = try! file.tensor(name)
        return Matrix(rows: tensor.shape[0], columns: tensor.shape[1], values: tensor.floats())
    }

    /// Relative difference per element, against the larger magnitude.
    static func relative(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) / max(abs($0), abs($1), 1e-30) }.max() ?? 0
    }

    @Test("w̄: group-normalized weight magnitudes, averaged over the stacked rows")
    func weightMean() {
        let weights = [Self.matrix("w1"), Self.matrix("w2")]
        // Float division per element, summed in Double: only the summation order differs from NumPy.
        #expect(Self.relative(AWQ.weightMean(weights, groupLength: 16), Self.floats("w_mean_g16")) < 1e-6)
        #expect(Self.relative(AWQ.weightMean(weights, groupLength: 64), Self.floats("w_mean_channel")) < 1e-6)
    }

    @Test("scale candidates over the grid of ratios, duo and activation-only")
    func scales() {
        let xMean = Self.floats("x_mean"), wMean = Self.floats("w_mean_g16")
        for (i, ratio) in AWQ.ratios(grid: 20).enumerated() {
            // powf against NumPy's float32 power: both within an ulp of the true value; 1e-6 leaves two.
            #expect(Self.relative(AWQ.scales(activationMean: xMean, weightMean: wMean, ratio: ratio), Self.floats("scales_duo_\(i)")) < 1e-6, "ratio \(ratio)")
        }
        #expect(Self.relative(AWQ.scales(activationMean: xMean, weightMean: nil, ratio: 0.35), Self.floats("scales_x_only_7")) < 1e-6)
    }

    @Test("candidate weights Q(W·s)/s match the reference")
    func candidates() throws {
        let s = Self.floats("scales_duo_10")
        let sym = try AWQ.candidate(Self.matrix("w1"), scales: s, scheme: QuantizationScheme(bits: 4, symmetric: true, groupSize: 16))
        let asym = try AWQ.candidate(Self.matrix("w2"), scales: s, scheme: QuantizationScheme(bits: 3, symmetric: false, groupSize: 32))
        // Same Float operations in the same order: identical except where a code sits on a
        // rounding tie that the scale's last bit decides (none in this fixture).
        #expect(sym.values == Self.floats("candidate_w1_sym4_g16"))
        #expect(asym.values == Self.floats("candidate_w2_asym3_g32"))
    }

    @Test("the output error from XᵀX or from the samples equals the samples' squared error; row pieces and sample ranges add up exactly")
    func outputErrorByRows() throws {
        var random = SplitMix64(seed: 17)
        let (tokens, n, k) = (150, 200, 48)
        let x = random.floats(tokens * k)
        let w = Matrix(rows: n, columns: k, values: random.floats(n * k))
        var gram = [Double](repeating: 0, count: k * k)
        for t in 0..<tokens { for i in 0..<k { for j in 0..<k { gram[i * k + j] += Double(x[t * k + i]) * Double(x[t * k + j]) } } }
        let candidate = try AWQ.candidate(w, scales: (0..<k).map { 0.5 + Float($0) / Float(k) }, scheme: QuantizationScheme(bits: 3, symmetric: false, groupSize: 16))
        // Σ_t ‖x_t·(C − W)ᵀ‖², directly from the samples.
        var direct = 0.0
        for t in 0..<tokens {
            for r in 0..<n {
                var y = 0.0
                for j in 0..<k { y += Double(x[t * k + j]) * Double(candidate[r, j] - w[r, j]) }
                direct += y * y
            }
        }
        let whole = gram.withUnsafeBufferPointer { AWQ.outputErrorSum(candidate, w, gram: $0, firstRow: 0) }
        // Double sums over 150 tokens and 48 columns in two orders: agreement to ~1e-13; 1e-10 leaves room.
        #expect(abs(FixedPointSum.double(whole) - direct) <= 1e-10 * direct)
        #expect(abs(AWQ.outputError(candidate, w, gram: gram) - direct) <= 1e-10 * direct)
        func rows(_ range: Range<Int>, of m: Matrix) -> Matrix {
            Matrix(rows: range.count, columns: k, values: Array(m.values[(range.lowerBound * k)..<(range.upperBound * k)]))
        }
        for split in [[0..<64, 64..<200], [0..<128, 128..<192, 192..<200], [0..<64, 64..<128, 128..<192, 192..<200]] {
            let parts = split.map { range in
                gram.withUnsafeBufferPointer { AWQ.outputErrorSum(rows(range, of: candidate), rows(range, of: w), gram: $0, firstRow: range.lowerBound) }
            }
            #expect(parts.reduce(0, &+) == whole, "\(split)")
        }
        // On the samples: a Float product per range of tokens, the squares summed in Double. Float
        // products of 48 terms carry ~1e-6 relative error each; 1e-5 on the total leaves room.
        let sequences = [0..<13, 13..<50, 50..<51, 51..<150]
        let onSamples = x.withUnsafeBufferPointer { AWQ.outputErrorSum(candidate, w, inputs: $0.baseAddress!, ranges: sequences) }
        #expect(abs(FixedPointSum.double(onSamples) - direct) <= 1e-5 * direct)
        // Ranges are the summands: any grouping of them into workers adds up to the same bits.
        let grouped = [[0..<13], [13..<50, 50..<51], [51..<150]].map { part in
            x.withUnsafeBufferPointer { AWQ.outputErrorSum(candidate, w, inputs: $0.baseAddress!, ranges: part) }
        }
        #expect(grouped.reduce(0, &+) == onSamples)
    }

    @Test("the clip search picks the reference's shrink for every (row, group)")
    func clip() throws {
        let s = Self.floats("scales_duo_10")
        let gram = try Self.file.tensor("gram").doubles()
        let k = s.count
        let scaledGram = (0..<(k * k)).map { gram[$0] / (Double(s[$0 / k]) * Double(s[$0 % k])) }
        let (clipped, shrink) = try AWQ.clip(AWQ.scaledColumns(Self.matrix("w1"), s), gram: scaledGram,
                                             scheme: QuantizationScheme(bits: 4, symmetric: false, groupSize: 16))
        #expect(shrink == Self.floats("clip_w1_asym4_g16_shrink"))
        #expect(clipped.values == Self.floats("clip_w1_asym4_g16"))
        #expect(shrink.contains { $0 < 1 }, "the outlier-heavy fixture makes some groups clip")
    }

    @Test("SmoothQuant scales, and smoothing leaves a linear's output unchanged to float rounding")
    func smoothQuant() {
        let weights = [Self.matrix("w1"), Self.matrix("w2")]
        let absmax = Self.floats("absmax")
        #expect(Self.relative(SmoothQuant.scales(activationMax: absmax, weights: weights, alpha: 0.5), Self.floats("smooth_05")) < 1e-6)
        let s = SmoothQuant.scales(activationMax: absmax, weights: weights, alpha: 0.8)
        #expect(Self.relative(s, Self.floats("smooth_08")) < 1e-6)
        // (x / s) · (W·diag(s))ᵀ = x · Wᵀ.
        let x = Self.matrix("x")
        let smoothedX = Matrix(rows: x.rows, columns: x.columns, values: x.values.enumerated().map { $0.element / s[$0.offset % x.columns] })
        let plain = x.multiplied(by: weights[0].transposed()).values
        let smoothed = smoothedX.multiplied(by: AWQ.scaledColumns(weights[0], s).transposed()).values
        let scale = plain.map(abs).max()!
        // Two roundings per product term, 64 terms: far below 1e-5 of the output's magnitude.
        #expect(zip(plain, smoothed).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
    }
}
