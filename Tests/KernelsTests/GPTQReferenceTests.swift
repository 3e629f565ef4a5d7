import Kernels
import Testing

@Suite("GPTQ against the NumPy reference")
struct GPTQReferenceTests {
    static let cases = KernelFixtures.shared.manifest.gptq.indices.map { $0 }

    /// Rounding ties. The reference propagates errors in float64 without lazy batching, the kernel
    /// in Float with lazy batches and BLAS; their weights differ by a few Float ulps before each
    /// rounding. A code may therefore legitimately differ where the reference's value w/s + z lies
    /// within `tieMargin` (code units) of a rounding boundary, or where another discrete choice
    /// (zero point rounding, clipping argmin) was that close; after such a tie the row's later
    /// columns receive a different error and may differ too. Everything before a row's first tie
    /// must match exactly. On the development machine the test passes even at 1e-6; the drift bound
    /// (≈3e-6 relative × |w/s| ≤ 128 at 8 bits ≈ 4e-4) sets 1e-3, so that another BLAS build
    /// cannot make it fail spuriously.
    static let tieMargin: Float = 1e-3
    /// Static scales are fitted to the original weights by the same Float operations: equal bit for
    /// bit. Dynamic ones are fitted to weights after up to K Float updates, whose relative drift from
    /// the float64 reference was measured up to 3.4e-6 (8 bits, p3: fewer tokens than columns, so
    /// large updates); 1e-5 relative bounds it.
    static let scaleTolerance: Float = 1e-5

    @Test("codes match exactly up to a row's first rounding tie; static scales exactly, dynamic to 1e-5", arguments: cases, [128, 16])
    func matchesReference(index: Int, blockSize: Int) throws {
        let fixtures = KernelFixtures.shared
        let spec = fixtures.manifest.gptq[index]
        let problem = fixtures.problem(spec.problem)
        let factor = fixtures.factor(problem: spec.problem, actOrder: spec.act_order!)
        let options = GPTQSolveOptions(scheme: spec.scheme, staticGroups: spec.static_groups!, blockSize: blockSize, clipping: spec.clippingSearch)
        let result = try GPTQ.solve(GPTQSolveRequest(firstRow: 0, weights: problem.w, options: options), factor: factor)
        let q = result.quantized
        let (n, k) = (problem.spec.rows, problem.spec.columns)
        let groups = q.groupCount, length = k / groups
        let codes = fixtures.ints("gptq\(index).codes"), scales = fixtures.floats("gptq\(index).scales")
        let zeros = fixtures.ints("gptq\(index).zeros"), margins = fixtures.floats("gptq\(index).margins")
        let losses = fixtures.doubles("gptq\(index).losses")
        #expect(q.groupIndex.map(Int.init) == fixtures.ints("gptq\(index).g_idx"), "\(spec)")
        let permutation = factor.permutation.map(Int.init)
        let dynamic = !spec.static_groups! && groups > 1
        var rowsWithoutTie = 0
        for row in 0..<n {
            let firstTie = (0..<k).first { margins[row * k + $0] < Self.tieMargin } ?? k
            if firstTie == k { rowsWithoutTie += 1 }
            for j in 0..<firstTie {
                let column = permutation[j]
                #expect(Int(q.codes[row * k + column]) == codes[row * k + column], "\(spec) B\(blockSize) row \(row) position \(j)")
            }
            for g in 0..<groups {
                // Dynamic groups are fitted at their first processing position; static ones before any update.
                guard !dynamic || g * length < firstTie else { continue }
                let (mine, theirs) = (q.scales[row * groups + g], scales[row * groups + g])
                #expect(dynamic ? abs(mine - theirs) <= Self.scaleTolerance * theirs : mine == theirs, "\(spec) row \(row) group \(g)")
                #expect(Int(q.zeroPoints[row * groups + g]) == zeros[row * groups + g], "\(spec) row \(row) group \(g)")
            }
            if firstTie == k {
                // The same terms; w − q is a difference of nearly equal Floats (at 8 bits its relative
                // error reaches 2⁻²⁴·2⁸ ≈ 1.5e-5 per term, plus drift): 1e-3 relative.
                #expect(abs(result.rowLosses[row] - losses[row]) <= 1e-3 * losses[row], "\(spec) row \(row) loss")
            }
        }
        // The comparison must not be vacuous: most rows have no tie at all.
        #expect(rowsWithoutTie * 2 >= n, "\(spec): only \(rowsWithoutTie) of \(n) rows free of ties")
    }

    @Test("GPTQ's Hessian-weighted loss is below RTN's on the same H", arguments: cases)
    func beatsRoundToNearest(index: Int) throws {
        let fixtures = KernelFixtures.shared
        let spec = fixtures.manifest.gptq[index]
        let problem = fixtures.problem(spec.problem)
        let options = GPTQSolveOptions(scheme: spec.scheme, staticGroups: spec.static_groups!, clipping: spec.clippingSearch)
        let gptq = try GPTQ.quantize(problem.w, statistics: problem.statistics, factorOptions: GPTQFactorOptions(activationOrder: spec.act_order!),
                                     solveOptions: options)
        let rtn = try RoundToNearest.quantize(problem.w, scheme: spec.scheme)
        let h = try problem.statistics.hessian()
        let gptqError = try ErrorMetrics.measure(original: problem.w, quantized: gptq.quantized.dequantized(), hessian: h)
        let rtnError = try ErrorMetrics.measure(original: problem.w, quantized: rtn.dequantized(), hessian: h)
        #expect(gptqError.hessianWeightedLoss < rtnError.hessianWeightedLoss, "\(spec)")
        // And it agrees with the reference's own measurement of the same quantity (ties aside: 10 %).
        #expect(abs(gptqError.hessianWeightedLoss - spec.gptq_hessian_loss!) <= 0.1 * spec.gptq_hessian_loss!, "\(spec)")
    }
}
