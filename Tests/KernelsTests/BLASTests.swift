import Kernels
import Testing

@Suite("BLAS and LAPACK wrappers")
struct BLASTests {
    @Test("sgemm with every transpose combination matches a plain triple loop")
    func sgemm() {
        let (m, n, k) = (3, 5, 7)
        let a = Matrix(rows: m, columns: k, values: (0..<(m * k)).map { Float($0 % 11) - 5 })
        let b = Matrix(rows: k, columns: n, values: (0..<(k * n)).map { Float($0 % 7) - 3 })
        var expected = Matrix(rows: m, columns: n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { expected[i, j] += a[i, p] * b[p, j] } } }
        #expect(a.multiplied(by: b) == expected)
        let at = a.transposed(), bt = b.transposed()
        var c = [Float](repeating: 0, count: m * n)
        BLAS.sgemm(transposeA: true, transposeB: true, m: m, n: n, k: k, a: at.values, lda: m, b: bt.values, ldb: k, c: &c, ldc: n)
        #expect(c == expected.values)
    }

    @Test("syrk writes AᵀA into the upper triangle; Cholesky and its inverse recover the identity")
    func syrkAndCholesky() throws {
        let (rows, n) = (9, 4)
        let x = (0..<(rows * n)).map { Double(($0 * 37) % 13) - 6 }
        var h = [Double](repeating: 0, count: n * n)
        BLAS.dsyrkTransposed(n: n, rows: rows, a: x, lda: n, beta: 0, c: &h, ldc: n)
        for i in 0..<n {
            for j in i..<n {
                let direct = (0..<rows).reduce(0.0) { $0 + x[$1 * n + i] * x[$1 * n + j] }
                #expect(h[i * n + j] == direct)
            }
            for j in 0..<i { h[i * n + j] = h[j * n + i] }
            h[i * n + i] += 1
        }
        var inverse = h
        try LAPACK.choleskyFactor(&inverse, n: n, triangle: .upper)
        try LAPACK.inverseFromCholesky(&inverse, n: n, triangle: .upper)
        for i in 0..<n { for j in 0..<i { inverse[i * n + j] = inverse[j * n + i] } }
        var product = [Double](repeating: 0, count: n * n)
        BLAS.dgemm(m: n, n: n, k: n, a: h, lda: n, b: inverse, ldb: n, c: &product, ldc: n)
        for i in 0..<n { for j in 0..<n { #expect(abs(product[i * n + j] - (i == j ? 1 : 0)) < 1e-10) } }
    }

    @Test("Cholesky of an indefinite matrix reports the failing order")
    func indefinite() {
        var a: [Double] = [1, 2, 2, 1]
        #expect(throws: LAPACK.Failure(routine: "dpotrf", info: 2)) { try LAPACK.choleskyFactor(&a, n: 2, triangle: .upper) }
    }

    @Test("trtri inverts a triangular matrix in place, in either triangle and precision")
    func triangularInverse() throws {
        let n = 5
        var lower = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0...i { lower[i * n + j] = i == j ? Double(i + 2) : Double((i * 3 + j) % 5) - 2 } }
        var inverse = lower
        try LAPACK.triangularInverse(&inverse, n: n, triangle: .lower)
        var product = [Double](repeating: 0, count: n * n)
        BLAS.dgemm(m: n, n: n, k: n, a: lower, lda: n, b: inverse, ldb: n, c: &product, ldc: n)
        for i in 0..<n { for j in 0..<n { #expect(abs(product[i * n + j] - (i == j ? 1 : 0)) < 1e-12) } }
        let upper = Matrix(rows: n, columns: n, values: lower.map { Float($0) }).transposed()
        var upperInverse = upper.values
        try LAPACK.triangularInverse(&upperInverse, n: n, triangle: .upper)
        let identity = upper.multiplied(by: Matrix(rows: n, columns: n, values: upperInverse))
        for i in 0..<n { for j in 0..<n { #expect(abs(identity[i, j] - (i == j ? 1 : 0)) < 1e-5) } }
        var singular: [Float] = [1, 0, 0, 0]
        #expect(throws: LAPACK.Failure(routine: "strtri", info: 2)) { try LAPACK.triangularInverse(&singular, n: 2, triangle: .lower) }
    }
}
