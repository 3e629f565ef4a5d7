/// Cholesky factorization and the inverse of a triangular factor, blocked on `TileGrid`'s
/// blocks: LAPACK (single-threaded) on each diagonal block, and the panel and trailing updates as
/// tiles of single-threaded BLAS calls spread over `ComputeThreads`. As for every tiled product,
/// the blocks are fixed by n alone, so the bits are the same for any thread count; a matrix of at
/// most one block is a single LAPACK call. Both work on the **lower** triangle of a row-major n×n
/// matrix in place (the order GPTQ's factor uses, `GPTQ.prepareFactor`).
enum BlockedCholesky {
    /// A = L·Lᵀ: the lower triangle of `a` becomes L (right-looking: factor the diagonal block,
    /// solve the panel below it, update the trailing lower triangle). The strict upper triangle is
    /// not read or written.
    /// - Throws: `LAPACK.Failure` with the order of the first leading minor that is not positive
    ///   definite, in the whole matrix.
    static func factorLower<T: BLASScalar>(_ a: UnsafeMutablePointer<T>, n: Int) throws(LAPACK.Failure) {
        ComputeThreads.pinOpenBLAS()
        let block = TileGrid.edge
        let operands = TileOperands(a: a, b: a, c: a)
        for j0 in stride(from: 0, to: n, by: block) {
            let j1 = min(j0 + block, n), width = j1 - j0
            let info = T.choleskyLower(a + j0 * n + j0, n: width, lda: n)
            guard info == 0 else { throw LAPACK.Failure(routine: T.choleskyRoutine, info: info > 0 ? j0 + info : info) }
            guard j1 < n else { return }
            let below = n - j1
            // Panel: A[j1..<n, j0..<j1] ← A[j1..<n, j0..<j1] · L₁₁⁻ᵀ, block rows independent.
            ComputeThreads.forEach(tiles: (below + block - 1) / block, flops: Double(below) * Double(width) * Double(width)) { t in
                let rows = TileGrid.span(t, below)
                T.trsm(right: true, lower: true, transpose: true, m: rows.count, n: width, alpha: 1,
                       a: operands.a + j0 * n + j0, lda: n, b: operands.c + (j1 + rows.lowerBound) * n + j0, ldb: n)
            }
            // Trailing lower triangle: A[j1..<n, j1..<n] −= P·Pᵀ with P the panel, block by block.
            let tiles = TileGrid.upperTriangle(below)
            ComputeThreads.forEach(tiles: tiles.count, flops: Double(below) * Double(below) * Double(width)) { t in
                // Upper-triangle block (i, j) of the transpose is lower block (rows j, columns i).
                let (columns, rows) = tiles[t]
                let (r0, c0) = (j1 + rows.lowerBound, j1 + columns.lowerBound)
                if r0 == c0 {
                    T.syrk(upper: false, transpose: false, n: rows.count, k: width, alpha: -1, a: operands.a + r0 * n + j0, lda: n,
                           beta: 1, c: operands.c + r0 * n + r0, ldc: n)
                } else {
                    T.gemm(transposeA: false, transposeB: true, m: rows.count, n: columns.count, k: width, alpha: -1,
                           a: operands.a + r0 * n + j0, lda: n, b: operands.a + c0 * n + j0, ldb: n,
                           beta: 1, c: operands.c + r0 * n + c0, ldc: n)
                }
            }
        }
    }

    /// L ← L⁻¹ for the lower triangle of `a`; the strict upper triangle is set to zero. Block row
    /// by block row, top down (M = L⁻¹): M[I, J] = −L[I, I]⁻¹ · Σ_{J ≤ P < I} L[I, P]·M[P, J] for
    /// each block column J < I (independent, so spread over the threads; gathered in a scratch
    /// block row because they read L[I, ·] before it is overwritten), then M[I, I] = L[I, I]⁻¹.
    /// n³/3 flops, as LAPACK's trtri.
    /// - Throws: `LAPACK.Failure` with the order of a zero diagonal entry.
    static func invertLower<T: BLASScalar>(_ a: UnsafeMutablePointer<T>, n: Int) throws(LAPACK.Failure) {
        ComputeThreads.pinOpenBLAS()
        for i in 0..<n { (a + i * n + i + 1).update(repeating: 0, count: n - i - 1) }
        let block = TileGrid.edge
        let operands = TileOperands(a: a, b: a, c: a)
        var scratch = [T](repeating: 0, count: n > block ? block * n : 0)
        for r0 in stride(from: 0, to: n, by: block) {
            let height = min(r0 + block, n) - r0
            if r0 > 0 {
                scratch.withUnsafeMutableBufferPointer { buffer in
                    let s = TileOperands(a: UnsafePointer(buffer.baseAddress!), b: UnsafePointer(buffer.baseAddress!), c: buffer.baseAddress!)
                    ComputeThreads.forEach(tiles: r0 / block, flops: Double(height) * Double(r0) * Double(r0)) { column in
                        let c0 = column * block
                        // S[·, c0..<c0+block] = L[r0..<r1, c0..<r0] · M[c0..<r0, c0..<c0+block], then −L[I, I]⁻¹ S.
                        T.gemm(transposeA: false, transposeB: false, m: height, n: block, k: r0 - c0, alpha: 1,
                               a: operands.a + r0 * n + c0, lda: n, b: operands.a + c0 * n + c0, ldb: n,
                               beta: 0, c: s.c + c0, ldc: r0)
                        T.trsm(right: false, lower: true, transpose: false, m: height, n: block, alpha: -1,
                               a: operands.a + r0 * n + r0, lda: n, b: s.c + c0, ldb: r0)
                    }
                    for r in 0..<height { (a + (r0 + r) * n).update(from: s.a + r * r0, count: r0) }
                }
            }
            let info = T.inverseLower(a + r0 * n + r0, n: height, lda: n)
            guard info == 0 else { throw LAPACK.Failure(routine: T.inverseRoutine, info: info > 0 ? r0 + info : info) }
        }
    }
}
