/// C ← C − A·B for row-major Float matrices, with every element's arithmetic fixed by its own
/// row of A and column of B: c ← fma(−a[r, p], b[p, j], c) for p = 0, 1, …, k − 1 in that order.
/// The result is the same bits whatever m, n, the caller's slicing of rows or columns, or the
/// number of threads — which BLAS does not promise and OpenBLAS 0.3.21 does not give: on AMD
/// Zen its sgemm changes results with the thread count and with how the columns are split
/// (measured, see docs/ARCHITECTURE.md, "Same bytes and BLAS threads"). GPTQ's block update uses it so that a
/// solve's bytes do not depend on the worker's machine.
///
/// The inner kernel holds a 4 × 16 block of C in eight 8-lane registers and streams A and B once
/// per block (the register blocking of a GEMM micro-kernel, without packing); the edges run the
/// same fused operation one element at a time, which rounds identically.
public enum ProductUpdate {
    public static func subtract(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0, k > 0 else { return }
        let wide = n - n % 16
        var r = 0
        while r + 4 <= m {
            var j = 0
            while j < wide {
                block4x16(k: k, a: a + r * lda, lda: lda, b: b + j, ldb: ldb, c: c + r * ldc + j, ldc: ldc)
                j += 16
            }
            for row in r..<(r + 4) { scalarColumns(wide..<n, row: row, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc) }
            r += 4
        }
        while r < m {
            var j = 0
            while j < wide {
                block1x16(k: k, a: a + r * lda, b: b + j, ldb: ldb, c: c + r * ldc + j)
                j += 16
            }
            scalarColumns(wide..<n, row: r, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
            r += 1
        }
    }

    @inline(__always)
    private static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    private static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    private static func block4x16(k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                  c: UnsafeMutablePointer<Float>, ldc: Int) {
        var c00 = load(c), c01 = load(c + 8)
        var c10 = load(c + ldc), c11 = load(c + ldc + 8)
        var c20 = load(c + 2 * ldc), c21 = load(c + 2 * ldc + 8)
        var c30 = load(c + 3 * ldc), c31 = load(c + 3 * ldc + 8)
        for p in 0..<k {
            let b0 = load(b + p * ldb), b1 = load(b + p * ldb + 8)
            let a0 = SIMD8(repeating: -a[p]), a1 = SIMD8(repeating: -a[lda + p])
            let a2 = SIMD8(repeating: -a[2 * lda + p]), a3 = SIMD8(repeating: -a[3 * lda + p])
            c00.addProduct(a0, b0); c01.addProduct(a0, b1)
            c10.addProduct(a1, b0); c11.addProduct(a1, b1)
            c20.addProduct(a2, b0); c21.addProduct(a2, b1)
            c30.addProduct(a3, b0); c31.addProduct(a3, b1)
        }
        store(c00, c); store(c01, c + 8)
        store(c10, c + ldc); store(c11, c + ldc + 8)
        store(c20, c + 2 * ldc); store(c21, c + 2 * ldc + 8)
        store(c30, c + 3 * ldc); store(c31, c + 3 * ldc + 8)
    }

    private static func block1x16(k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>) {
        var c0 = load(c), c1 = load(c + 8)
        for p in 0..<k {
            let a0 = SIMD8(repeating: -a[p])
            c0.addProduct(a0, load(b + p * ldb)); c1.addProduct(a0, load(b + p * ldb + 8))
        }
        store(c0, c); store(c1, c + 8)
    }

    private static func scalarColumns(_ columns: Range<Int>, row: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                      b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for j in columns {
            var value = c[row * ldc + j]
            for p in 0..<k { value.addProduct(-a[row * lda + p], b[p * ldb + j]) }
            c[row * ldc + j] = value
        }
    }
}
