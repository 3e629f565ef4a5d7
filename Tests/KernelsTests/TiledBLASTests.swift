@testable import Kernels
import Testing

/// The tiled products and factorizations give the same bits for every thread count, and agree
/// with plain float64 arithmetic (and LAPACK's unblocked routines) to rounding.
@Suite("Tiled BLAS: the same bits for any thread count")
struct TiledBLASTests {
    static let threadCounts = [1, 2, 3, 5]

    /// `body` under each thread count; every result must equal the first bit for bit.
    static func sameBits<T: Equatable>(_ what: String, _ body: () throws -> [T]) rethrows -> [T] {
        var first: [T]?
        for threads in threadCounts {
            let result = try ComputeThreads.$taskCount.withValue(threads) { try body() }
            if let first {
                let differing = zip(result, first).filter { $0 != $1 }.count
                #expect(result.count == first.count && differing == 0, "\(what): \(threads) threads change \(differing) of \(first.count) values")
            } else {
                first = result
            }
        }
        return first ?? []
    }

    static func values(_ count: Int, seed: Int) -> [Float] {
        var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
    }

    @Test("sgemm over a 3 × 3 tile grid with partial edges, every transpose combination")
    func sgemm() {
        let (m, n, k) = (600, 520, 300)
        let a = Self.values(m * k, seed: 1), b = Self.values(k * n, seed: 2), c0 = Self.values(m * n, seed: 3)
        for (transposeA, transposeB) in [(false, false), (false, true), (true, false), (true, true)] {
            let (lda, ldb) = (transposeA ? m : k, transposeB ? k : n)
            let c = Self.sameBits("sgemm \(transposeA) \(transposeB)") {
                var c = c0
                BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda,
                           b: b, ldb: ldb, beta: 2, c: &c, ldc: n)
                return c
            }
            // Entries from every tile, edges included, against float64 with the forward error bound.
            for i in stride(from: 0, to: m, by: 37) + [m - 1] {
                for j in stride(from: 0, to: n, by: 41) + [n - 1] {
                    var exact = 2 * Double(c0[i * n + j]), magnitude = abs(exact)
                    for p in 0..<k {
                        let x = Double(transposeA ? a[p * lda + i] : a[i * lda + p]), y = Double(transposeB ? b[j * ldb + p] : b[p * ldb + j])
                        exact += 0.5 * x * y
                        magnitude += abs(0.5 * x * y)
                    }
                    #expect(abs(Double(c[i * n + j]) - exact) <= Double(k + 2) * 6e-8 * magnitude, "C[\(i), \(j)]")
                }
            }
        }
    }

    @Test("syrk's upper triangle, tiled into syrk and gemm blocks; dgemm and dsyrk")
    func syrkAndDouble() {
        let (n, rows) = (600, 333)
        let x = Self.values(rows * n, seed: 4)
        let c = Self.sameBits("ssyrk") {
            var c = [Float](repeating: 7, count: n * n)
            BLAS.ssyrkTransposed(n: n, rows: rows, a: x, lda: n, beta: 0, c: &c, ldc: n)
            return c
        }
        for i in stride(from: 0, to: n, by: 29) + [n - 1] {
            for j in stride(from: 0, to: n, by: 31) + [n - 1] {
                if j < i {
                    #expect(c[i * n + j] == 7, "below the diagonal, C[\(i), \(j)] was written")
                    continue
                }
                let terms = (0..<rows).map { Double(x[$0 * n + i]) * Double(x[$0 * n + j]) }
                let magnitude = terms.reduce(0) { $0 + abs($1) }
                #expect(abs(Double(c[i * n + j]) - terms.reduce(0, +)) <= Double(rows) * 6e-8 * magnitude, "C[\(i), \(j)]")
            }
        }
        let xd = x.map(Double.init)
        _ = Self.sameBits("dsyrk") {
            var c = [Double](repeating: 0, count: n * n)
            BLAS.dsyrkTransposed(n: n, rows: rows, a: xd, lda: n, beta: 0, c: &c, ldc: n)
            return c
        }
        _ = Self.sameBits("dgemm") {
            var c = [Double](repeating: 0, count: 333 * 333)
            BLAS.dgemm(transposeA: true, m: 333, n: 333, k: 600, a: xd, lda: 333, b: xd, ldb: 333, c: &c, ldc: 333)
            return c
        }
    }

    /// A = XᵀX/rows + I, n×n, well conditioned.
    static func positiveDefinite(_ n: Int) -> [Double] {
        let rows = n + 17
        let x = values(rows * n, seed: 5).map(Double.init)
        var a = [Double](repeating: 0, count: n * n)
        BLAS.dsyrkTransposed(n: n, rows: rows, alpha: 1 / Double(rows), a: x, lda: n, beta: 0, c: &a, ldc: n)
        for i in 0..<n {
            for j in 0..<i { a[i * n + j] = a[j * n + i] }
            a[i * n + i] += 1
        }
        return a
    }

    @Test("blocked Cholesky and triangular inverse (3 blocks) match LAPACK's single call to rounding, in both precisions")
    func cholesky() throws {
        let n = 600
        let a = Self.positiveDefinite(n)
        // LAPACK in one call, float64: the reference.
        var reference = a
        try LAPACK.choleskyFactor(&reference, n: n, triangle: .lower)
        var referenceInverse = reference
        try LAPACK.triangularInverse(&referenceInverse, n: n, triangle: .lower)
        func lowerDistance<T: BinaryFloatingPoint>(_ x: [T], _ y: [Double]) -> Double {
            var worst = 0.0
            for i in 0..<n { for j in 0...i { worst = max(worst, abs(Double(x[i * n + j]) - y[i * n + j])) } }
            return worst
        }
        let factor = try Self.sameBits("dpotrf blocked") { () throws -> [Double] in
            var l = a
            try BlockedCholesky.factorLower(&l, n: n)
            return l
        }
        #expect(lowerDistance(factor, reference) <= 1e-13)
        let inverse = try Self.sameBits("dtrtri blocked") { () throws -> [Double] in
            var l = factor
            try BlockedCholesky.invertLower(&l, n: n)
            return l
        }
        #expect(lowerDistance(inverse, referenceInverse) <= 1e-13)
        for i in 0..<n { for j in (i + 1)..<n { #expect(inverse[i * n + j] == 0) } }
        // Float: agreement to float rounding (entries of L and L⁻¹ are O(1) here).
        let single = a.map { Float($0) }
        let singleFactor = try Self.sameBits("spotrf blocked") { () throws -> [Float] in
            var l = single
            try BlockedCholesky.factorLower(&l, n: n)
            return l
        }
        #expect(lowerDistance(singleFactor, reference) <= 2e-5)
        let singleInverse = try Self.sameBits("strtri blocked") { () throws -> [Float] in
            var l = singleFactor
            try BlockedCholesky.invertLower(&l, n: n)
            return l
        }
        #expect(lowerDistance(singleInverse, referenceInverse) <= 2e-5)
    }

    @Test("a failing leading minor in the third block is reported with its order in the whole matrix")
    func failureOrder() {
        let n = 600
        var a = [Float](repeating: 0, count: n * n)
        for i in 0..<n { a[i * n + i] = i == 530 ? -1 : 1 }
        #expect(throws: LAPACK.Failure(routine: "spotrf", info: 531)) { try BlockedCholesky.factorLower(&a, n: n) }
        var singular = [Double](repeating: 0, count: n * n)
        for i in 0..<n { singular[i * n + i] = i == 300 ? 0 : 2 }
        #expect(throws: LAPACK.Failure(routine: "dtrtri", info: 301)) { try BlockedCholesky.invertLower(&singular, n: n) }
    }

    @Test("GPTQ's factor at K = 600: the same bits for any thread count, the textbook U to rounding")
    func gptqFactor() throws {
        let (k, tokens) = (600, 700)
        let x = Self.values(tokens * k, seed: 6).enumerated().map { $0.element * Float(1 + $0.offset % k % 7) }
        var statistics = ActivationStatistics(columns: k)
        try statistics.accumulate(x, rows: tokens, layer: 0, module: "test")
        for precision in [FactorPrecision.float32, .float64] {
            let options = GPTQFactorOptions(activationOrder: true, precision: precision)
            let u = try Self.sameBits("GPTQ factor \(precision)") { try GPTQ.prepareFactor(statistics: statistics, options: options).inverseFactor }
            let factor = try GPTQ.prepareFactor(statistics: statistics, options: options)
            // Textbook: H_p = P H Pᵀ + λI, potrf → potri → potrf (upper), float64, unblocked.
            let gram = statistics.gram()
            let order = factor.permutation.map(Int.init)
            var h = [Double](repeating: 0, count: k * k)
            for i in 0..<k { for j in 0..<k { h[i * k + j] = gram[order[i] * k + order[j]] * 2 / Double(tokens) } }
            for i in 0..<k { h[i * k + i] += factor.damping }
            try LAPACK.choleskyFactor(&h, n: k, triangle: .upper)
            try LAPACK.inverseFromCholesky(&h, n: k, triangle: .upper)
            try LAPACK.choleskyFactor(&h, n: k, triangle: .upper)
            var worst = 0.0, largest = 0.0
            for i in 0..<k {
                for j in 0..<k {
                    let expected = j < i ? 0 : h[i * k + j]
                    worst = max(worst, abs(Double(u[i * k + j]) - expected))
                    largest = max(largest, abs(expected))
                }
            }
            #expect(worst <= (precision == .float64 ? 1e-6 : 1e-3) * largest, "\(precision): \(worst) of \(largest)")
        }
    }
}
