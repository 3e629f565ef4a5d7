import Kernels
import Tensors
import Testing
import TestSupport

@Suite("GPTQ factor, row-sliced solves, wire forms")
struct GPTQTests {
    /// Relative Frobenius distance ‖A − B‖ / ‖B‖.
    static func distance(_ a: [Float], _ b: [Double]) -> Double {
        var difference = 0.0, norm = 0.0
        for (x, y) in zip(a, b) {
            difference += (Double(x) - y) * (Double(x) - y)
            norm += y * y
        }
        return (difference / norm).squareRoot()
    }

    @Test("the prepared factor matches the reference's chol(inv(H + λI))ᵀ", arguments: ["p1", "p2", "p3"], [false, true])
    func factorMatchesReference(problem name: String, actOrder: Bool) throws {
        let fixtures = KernelFixtures.shared
        let problem = fixtures.problem(name)
        let key = "\(name).\(actOrder ? "act" : "seq")"
        let reference = fixtures.doubles("\(key).u")
        for precision in [FactorPrecision.float64, .float32] {
            let factor = try GPTQ.prepareFactor(statistics: problem.statistics, options: GPTQFactorOptions(activationOrder: actOrder, precision: precision))
            #expect(factor.permutation.map(Int.init) == fixtures.ints("\(key).perm"))
            #expect(factor.deadColumns.map(Int.init) == problem.spec.dead)
            #expect(factor.hessianDiagonal == fixtures.floats("\(key).diag"))
            #expect(abs(factor.damping - fixtures.doubles("\(key).lambda")[0]) <= 1e-14 * factor.damping)
            #expect(factor.dampingRetries == 0 && factor.dampingPercent == 0.01 && factor.isPermuted == actOrder)
            // float64: only U's final rounding to Float separates the routes (2⁻²⁴ ≈ 6e-8 per entry;
            // measured 2.7e-8): 1e-7. float32: rounding grows with the conditioning of H + λI
            // (measured up to 7.8e-7 for p3, which has fewer tokens than columns): 1e-5.
            let tolerance = precision == .float64 ? 1e-7 : 1e-5
            let d = Self.distance(factor.inverseFactor, reference)
            #expect(d <= tolerance, "\(key) \(precision): relative distance \(d)")
        }
    }

    @Test("U from potrf + trtri on the reversed matrix equals the textbook potrf → potri → potrf")
    func reversalTrick() throws {
        let problem = KernelFixtures.shared.problem("p1")
        let factor = try GPTQ.prepareFactor(statistics: problem.statistics, options: GPTQFactorOptions(precision: .float64))
        let k = 64
        var h = problem.statistics.gram().map { $0 * (2 / Double(problem.spec.tokens)) }
        for i in 0..<k { h[i * k + i] += factor.damping }
        try LAPACK.choleskyFactor(&h, n: k, triangle: .upper)
        try LAPACK.inverseFromCholesky(&h, n: k, triangle: .upper)
        try LAPACK.choleskyFactor(&h, n: k, triangle: .upper)
        for i in 0..<k { for j in 0..<i { h[i * k + j] = 0 } }
        #expect(Self.distance(factor.inverseFactor, h) <= 1e-6)
    }

    @Test("a failing Cholesky is retried at larger damping and recorded; past the last retry it throws")
    func dampingRetries() throws {
        // XᵀX = [[1, 2], [2, 1]] is indefinite: fails at 1 % and 10 % damping, is singular at
        // 100 % (a zero pivot, exactly), and factors at 1000 %.
        let statistics = try ActivationStatistics(columns: 2, tokenCount: 2, gramUpper: [1, 2, 1], absMax: [1, 1], sumAbs: [1, 1], sumSquares: [1, 1])
        for precision in [FactorPrecision.float32, .float64] {
            let factor = try GPTQ.prepareFactor(statistics: statistics, options: GPTQFactorOptions(precision: precision))
            #expect(factor.dampingRetries == 3 && abs(factor.dampingPercent - 10) < 1e-12 && abs(factor.damping - 10) < 1e-12)
            let error = #expect(throws: KernelError.self) {
                try GPTQ.prepareFactor(statistics: statistics, options: GPTQFactorOptions(maxDampingRetries: 2, precision: precision), name: "layer 3 mlp.down_proj")
            }
            #expect(error?.code == .factorizationFailed)
            #expect(error?.message.hasPrefix("GPTQ layer 3 mlp.down_proj: H + λI is not positive definite") == true, "\(error?.message ?? "")")
        }
        // Zero damping on rank-deficient H (fewer tokens than columns) retries from 1 %.
        let p3 = KernelFixtures.shared.problem("p3")
        let factor = try GPTQ.prepareFactor(statistics: p3.statistics, options: GPTQFactorOptions(dampingPercent: 0, precision: .float64))
        #expect(factor.dampingRetries == 1 && factor.dampingPercent == 0.01)
    }

    /// A problem big enough for BLAS's blocked paths: 70 rows (tiles of 16 leave a partial one),
    /// 320 columns (three blocks of 128, the last partial), dynamic groups of 32.
    static func largeProblem() throws -> (Matrix, GPTQFactor) {
        var random = SplitMix64(seed: 99)
        let (tokens, k) = (400, 320)
        var x = random.floats(tokens * k)
        for t in 0..<tokens { for c in 0..<k { x[t * k + c] += 0.5 * x[t * k + (c * 7) % k] } }  // correlate
        var statistics = ActivationStatistics(columns: k)
        try statistics.accumulate(x, rows: tokens, layer: 0, module: "test")
        let factor = try GPTQ.prepareFactor(statistics: statistics, options: GPTQFactorOptions(activationOrder: true))
        return (Matrix(rows: 70, columns: k, values: random.floats(70 * k).map { $0 * 0.1 }), factor)
    }

    @Test("row-sliced solves equal the whole solve bit for bit, whatever the slices and threads",
          arguments: [false, true])
    func rowSlicedEqualsWhole(staticGroups: Bool) throws {
        let (w, factor) = try Self.largeProblem()
        let options = GPTQSolveOptions(scheme: try QuantizationScheme(bits: 4, symmetric: false, groupSize: 32),
                                       staticGroups: staticGroups, rowTile: 16)
        let whole = try GPTQ.assemble([GPTQ.solve(GPTQSolveRequest(firstRow: 0, weights: w, options: options), factor: factor)],
                                      rows: 70, factor: factor)
        // The solve calls no BLAS (its block update is `ProductUpdate`, fixed order per element), and
        // its tiles run on `threads` threads; the test leaves the process-wide BLAS count alone,
        // since other tests run concurrently and OpenBLAS's sgemm does change with it.
        for (slicing, threads) in [([0, 16, 70], 1), ([0, 32, 48, 64, 70], 2), ([0, 64, 70], 3)] {
            var parts: [GPTQSolveResult] = []
            for (start, end) in zip(slicing, slicing.dropFirst()).reversed() {  // any order of arrival
                let rows = Matrix(rows: end - start, columns: w.columns, values: Array(w.values[(start * w.columns)..<(end * w.columns)]))
                parts.append(try GPTQ.solve(GPTQSolveRequest(firstRow: start, weights: rows, options: options), factor: factor, threads: threads))
            }
            let assembled = try GPTQ.assemble(parts, rows: 70, factor: factor)
            #expect(assembled == whole, "slices \(slicing), \(threads) threads")
        }
        for threads in [2, 4, 5] {  // tiles spread over threads: 5 tiles of 16 rows
            let spread = try GPTQ.solve(GPTQSolveRequest(firstRow: 0, weights: w, options: options), factor: factor, threads: threads)
            #expect(try GPTQ.assemble([spread], rows: 70, factor: factor) == whole, "\(threads) threads")
        }
        #expect(whole.loss == whole.rowLosses.reduce(0, +) && whole.loss > 0)
        // The solve's output passes the checked initializer: codes and zero points in range, scales
        // finite and positive, g_idx within the groups.
        let q = whole.quantized
        #expect(throws: Never.self) {
            try QuantizedWeights(scheme: q.scheme, rows: q.rows, columns: q.columns, codes: q.codes, scales: q.scales,
                                 zeroPoints: q.zeroPoints, groupIndex: q.groupIndex)
        }
        #expect(whole.quantized.hasTrivialGroupIndex == staticGroups)
    }

    @Test("a slice off the row-tile grid, a wrong width, and gaps or overlaps in assembly are refused")
    func sliceValidation() throws {
        let (w, factor) = try Self.largeProblem()
        let options = GPTQSolveOptions(scheme: try QuantizationScheme(bits: 4, symmetric: true, groupSize: 32), rowTile: 16)
        let rows = Matrix(rows: 8, columns: w.columns, values: Array(w.values[0..<(8 * w.columns)]))
        #expect(throws: KernelError(.invalidArgument, "GPTQ: a row slice must start on a multiple of the row tile 16, found row 8")) {
            try GPTQ.solve(GPTQSolveRequest(firstRow: 8, weights: rows, options: options), factor: factor)
        }
        #expect(throws: KernelError.self) {
            try GPTQ.solve(GPTQSolveRequest(firstRow: 0, weights: Matrix(rows: 2, columns: 64), options: options), factor: factor)
        }
        let a = try GPTQ.solve(GPTQSolveRequest(firstRow: 0, weights: rows, options: options), factor: factor)
        let b = try GPTQ.solve(GPTQSolveRequest(firstRow: 16, weights: rows, options: options), factor: factor)
        #expect(throws: KernelError(.invalidArgument, "GPTQ assembly: rows 8..<16 are missing")) { try GPTQ.assemble([a, b], rows: 24, factor: factor) }
        #expect(throws: KernelError.self) { try GPTQ.assemble([a, a], rows: 16, factor: factor) }
        #expect(throws: KernelError.self) { try GPTQ.assemble([a], rows: 9, factor: factor) }
    }

    @Test("factor, request and result cross the wire as [String: Tensor] exactly, and a decoded request solves identically")
    func wireForms() throws {
        let (w, factor) = try Self.largeProblem()
        let decodedFactor = try GPTQFactor(tensors: factor.tensors(), name: "layer 0 q,k,v")
        #expect(decodedFactor == factor)
        let options = GPTQSolveOptions(scheme: try QuantizationScheme(bits: 3, symmetric: false, groupSize: 64, scaleFormat: .bfloat16),
                                       staticGroups: false, blockSize: 64, rowTile: 32, clipping: try ClippingSearch(grid: 40, maxShrink: 0.5))
        let request = GPTQSolveRequest(firstRow: 32, weights: Matrix(rows: 38, columns: w.columns, values: Array(w.values[(32 * w.columns)...])), options: options)
        let decodedRequest = try GPTQSolveRequest(tensors: request.tensors(), name: "layer 0 q_proj rows 32..<70")
        #expect(decodedRequest == request)
        let result = try GPTQ.solve(decodedRequest, factor: decodedFactor)
        #expect(result == (try GPTQ.solve(request, factor: factor)))
        let decodedResult = try GPTQSolveResult(tensors: result.tensors(), name: "layer 0 q_proj")
        #expect(decodedResult == result)
        // A bf16 weight frame is accepted and widened.
        var frames = request.tensors()
        frames["weight"] = frames["weight"]!.converted(to: .bf16)
        #expect(try GPTQSolveRequest(tensors: frames, name: "bf16").weights.values == frames["weight"]!.floats())
        frames["options"] = Tensor(floats: [4, 2, 64, 0, 0, 128, 256, 0], shape: [8], dtype: .i64)
        #expect(throws: KernelError.self) { try GPTQSolveRequest(tensors: frames, name: "bad") }
        var factorFrames = factor.tensors()
        factorFrames["columns_order"] = Tensor(floats: [Float](repeating: 0, count: 320), shape: [320], dtype: .i32)
        let error = #expect(throws: KernelError.self) { try GPTQFactor(tensors: factorFrames, name: "layer 9") }
        #expect(error?.message == "GPTQ factor layer 9: GPTQ factor (K = 320): the column order is not a permutation of 0..<320")
    }

    @Test("the block plan keeps every dynamic group inside one block or starting at a block start")
    func blockPlan() {
        #expect(GPTQ.blocks(columns: 288, blockSize: 128, groupLength: 48, dynamicGroups: true) == [0..<96, 96..<192, 192..<288])
        #expect(GPTQ.blocks(columns: 512, blockSize: 128, groupLength: 32, dynamicGroups: true) == [0..<128, 128..<256, 256..<384, 384..<512])
        #expect(GPTQ.blocks(columns: 600, blockSize: 128, groupLength: 200, dynamicGroups: true) == [0..<128, 128..<200, 200..<328, 328..<400, 400..<528, 528..<600])
        #expect(GPTQ.blocks(columns: 300, blockSize: 128, groupLength: 100, dynamicGroups: false) == [0..<128, 128..<256, 256..<300])
        for (k, b, g) in [(96, 16, 24), (480, 128, 96), (1000, 64, 40), (210, 128, 7)] {
            let blocks = GPTQ.blocks(columns: k, blockSize: b, groupLength: g, dynamicGroups: true)
            #expect(blocks.first?.lowerBound == 0 && blocks.last?.upperBound == k)
            #expect(zip(blocks, blocks.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound && $0.count <= b })
            for start in stride(from: 0, to: k, by: g) {
                let block = blocks.first { $0.contains(start) }!
                #expect(block.lowerBound == start || start + g <= block.upperBound, "k \(k) b \(b) g \(g) group at \(start)")
            }
        }
    }
}
