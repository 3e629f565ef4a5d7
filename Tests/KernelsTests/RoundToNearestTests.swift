import Kernels
import Testing
import TestSupport

@Suite("Round to nearest")
struct RoundToNearestTests {
    static let cases = KernelFixtures.shared.manifest.rtn.indices.map { $0 }

    /// RTN is the same float32 operations in the same order as the NumPy reference, so codes,
    /// scales and zero points must agree bit for bit (no tolerance).
    @Test("codes, scales and zero points match the NumPy reference exactly", arguments: cases)
    func matchesReference(index: Int) throws {
        let fixtures = KernelFixtures.shared
        let spec = fixtures.manifest.rtn[index]
        let problem = fixtures.problem(spec.problem)
        let diagonal = spec.use_diagonal == true ? try problem.statistics.hessianDiagonal() : nil
        let result = try RoundToNearest.quantize(problem.w, scheme: spec.scheme, clipping: spec.clippingSearch, hessianDiagonal: diagonal)
        #expect(result.codes.map(Int.init) == fixtures.ints("rtn\(index).codes"), "\(spec)")
        #expect(result.scales == fixtures.floats("rtn\(index).scales"), "\(spec)")
        #expect(result.zeroPoints.map(Int.init) == fixtures.ints("rtn\(index).zeros"), "\(spec)")
        #expect(result.hasTrivialGroupIndex)
    }

    @Test("dequantized values lie on each group's grid, and each is the nearest grid point", arguments: [2, 3, 4, 5, 6, 7, 8])
    func onTheGrid(bits: Int) throws {
        var random = SplitMix64(seed: UInt64(bits))
        let w = Matrix(rows: 6, columns: 32, values: random.floats(192))
        for symmetric in [true, false] {
            let scheme = try QuantizationScheme(bits: bits, symmetric: symmetric, groupSize: 8)
            let q = try RoundToNearest.quantize(w, scheme: scheme)
            let deq = q.dequantized()
            for n in 0..<6 {
                for k in 0..<32 {
                    let g = n * 4 + k / 8
                    let (s, z) = (q.scales[g], Float(q.zeroPoints[g]))
                    let steps = deq[n, k] / s + z
                    // (q − z)·s / s + z recovers q to within a few ulps of |q|.
                    #expect(abs(steps - steps.rounded()) <= 1e-4 && steps.rounded() == Float(q.codes[n * 32 + k]))
                    let x = w[n, k]
                    let lattice = (scheme.codeMin...scheme.codeMax).map { (Float($0) - z) * s }
                    let nearest = lattice.map { abs($0 - x) }.min()!
                    // Round-half-even in code units: never farther than the nearest point by more than rounding of x/s.
                    #expect(abs(deq[n, k] - x) <= nearest + 1e-6 * max(abs(x), s), "b\(bits) \(symmetric) [\(n), \(k)]")
                }
            }
        }
    }

    @Test("bad schemes and shapes are refused with what was expected")
    func validation() throws {
        #expect(throws: KernelError(.invalidArgument, "quantization: bits must be 2…8, found 9")) { try QuantizationScheme(bits: 9, symmetric: true, groupSize: 8) }
        #expect(throws: KernelError.self) { try QuantizationScheme(bits: 4, symmetric: true, groupSize: 0) }
        let scheme = try QuantizationScheme(bits: 4, symmetric: true, groupSize: 24)
        #expect(throws: KernelError(.invalidArgument, "quantization: group size 24 does not divide the input dimension 64")) {
            try RoundToNearest.quantize(Matrix(rows: 2, columns: 64), scheme: scheme)
        }
        var w = Matrix(rows: 2, columns: 48)
        w[1, 5] = .nan
        #expect(throws: KernelError(.nonFinite, "RTN: weight [1, 5] of the 2×48 matrix is nan")) { try RoundToNearest.quantize(w, scheme: scheme) }
    }

    @Test("an all-zero group gets the scale format's epsilon and zero codes")
    func zeroGroup() throws {
        for format in ScaleFormat.allCases {
            for symmetric in [true, false] {
                let q = try RoundToNearest.quantize(Matrix(rows: 1, columns: 8), scheme: QuantizationScheme(bits: 4, symmetric: symmetric, groupSize: 8, scaleFormat: format))
                #expect(q.scales == [format.epsilon])
                #expect(q.dequantized().values == [Float](repeating: 0, count: 8))
            }
        }
    }
}
