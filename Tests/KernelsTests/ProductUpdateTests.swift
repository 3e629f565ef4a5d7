import Testing
@testable import Kernels
import TestSupport

/// C − A·B with a fixed order per element: equal to a float64 reference within k·2⁻²⁴ relative to
/// Σ|a||b| (k fused roundings), equal bit for bit to the same fused sequence written plainly, and
/// unchanged by any split of rows or columns (BLAS's sgemm is not, on this project's machines).
@Suite("ProductUpdate: C − A·B in a fixed order")
struct ProductUpdateTests {
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var random = SplitMix64(seed: seed)
        return random.floats(count)
    }

    @Test("matches float64 and the plain fused sequence; any row or column split gives the same bits",
          arguments: [(1, 1, 1), (4, 16, 3), (5, 17, 32), (16, 288, 32), (6, 290, 128), (70, 131, 64)])
    func exactAndStable(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        let (lda, ldb, ldc) = (k + 3, n + 5, n + 2)  // strides wider than the matrices
        let a = Self.values(m * lda, seed: 1), b = Self.values(k * ldb, seed: 2), c0 = Self.values(m * ldc, seed: 3)
        func run(rowCuts: [Int], columnCuts: [Int]) -> [Float] {
            var c = c0
            a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in c.withUnsafeMutableBufferPointer { c in
                for (r0, r1) in zip(rowCuts, rowCuts.dropFirst()) {
                    for (j0, j1) in zip(columnCuts, columnCuts.dropFirst()) {
                        ProductUpdate.subtract(m: r1 - r0, n: j1 - j0, k: k, a: a.baseAddress! + r0 * lda, lda: lda,
                                               b: b.baseAddress! + j0, ldb: ldb, c: c.baseAddress! + r0 * ldc + j0, ldc: ldc)
                    }
                }
            } } }
            return c
        }
        let whole = run(rowCuts: [0, m], columnCuts: [0, n])
        for r in 0..<m {
            for j in 0..<ldc {
                let found = whole[r * ldc + j]
                guard j < n else {
                    #expect(found == c0[r * ldc + j], "column \(j) past n was written")
                    continue
                }
                var fused = c0[r * ldc + j]
                var exact = Double(fused), magnitude = abs(Double(fused))
                for p in 0..<k {
                    fused.addProduct(-a[r * lda + p], b[p * ldb + j])
                    exact -= Double(a[r * lda + p]) * Double(b[p * ldb + j])
                    magnitude += abs(Double(a[r * lda + p]) * Double(b[p * ldb + j]))
                }
                #expect(found == fused, "(\(r), \(j))")
                #expect(abs(Double(found) - exact) <= Double(k + 1) * 0x1p-24 * magnitude, "(\(r), \(j))")
            }
        }
        for (rows, columns) in [([0, m / 2, m], [0, n]), ([0, m], [0, 1, n / 3, n]), ([0, 1, m], [0, 16, n])] {
            let (rows, columns) = (Array(Set(rows.filter { $0 <= m })).sorted(), Array(Set(columns.filter { $0 <= n })).sorted())
            #expect(run(rowCuts: rows, columnCuts: columns) == whole, "rows \(rows), columns \(columns)")
        }
    }
}
