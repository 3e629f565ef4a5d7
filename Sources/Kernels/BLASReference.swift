import COpenBLAS

extension BLAS {
    /// OpenBLAS's own multithreaded routines, one call each, untiled: the in-run references of
    /// the benchmarks (what a plain BLAS user gets on this machine). Their bits change with the
    /// thread count, so nothing in calibrate computes with them. Each call sets OpenBLAS to
    /// `threads` and back to 1; not for use while other threads call BLAS.
    public enum Reference {
        /// C = A·Bᵀ, A m×k, B n×k, row-major (`cblas_sgemm` NT).
        public static func sgemm(threads: Int, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                 c: UnsafeMutablePointer<Float>) {
            withThreads(threads) {
                Float.gemm(transposeA: false, transposeB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: k, beta: 0, c: c, ldc: n)
            }
        }

        /// The upper triangle of C = XᵀX, X rows×n (`cblas_ssyrk`).
        public static func ssyrk(threads: Int, n: Int, rows: Int, x: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
            withThreads(threads) { Float.syrk(upper: true, transpose: true, n: n, k: rows, alpha: 1, a: x, lda: n, beta: 0, c: c, ldc: n) }
        }

        /// L⁻¹ from a row-major symmetric positive definite A, in place (`spotrf` + `strtri` on the
        /// lower triangle): the work of GPTQ's factor.
        public static func inverseCholesky(threads: Int, _ a: UnsafeMutablePointer<Float>, n: Int) throws(LAPACK.Failure) {
            ComputeThreads.pinOpenBLAS()
            openblas_set_num_threads(Int32(max(1, threads)))
            defer { openblas_set_num_threads(1) }
            let info = Float.choleskyLower(a, n: n, lda: n)
            guard info == 0 else { throw LAPACK.Failure(routine: "spotrf", info: info) }
            let inverse = Float.inverseLower(a, n: n, lda: n)
            guard inverse == 0 else { throw LAPACK.Failure(routine: "strtri", info: inverse) }
        }

        private static func withThreads(_ threads: Int, _ body: () -> Void) {
            ComputeThreads.pinOpenBLAS()
            openblas_set_num_threads(Int32(max(1, threads)))
            body()
            openblas_set_num_threads(1)
        }
    }

    /// L⁻¹ from a row-major symmetric positive definite A, in place, tiled (`BlockedCholesky`:
    /// the same bits for any thread count); the strict upper triangle becomes zero. The route of
    /// GPTQ's factor, public for benchmarks and tests.
    public static func inverseCholesky(_ a: UnsafeMutablePointer<Float>, n: Int) throws(LAPACK.Failure) {
        try BlockedCholesky.factorLower(a, n: n)
        try BlockedCholesky.invertLower(a, n: n)
    }
}
