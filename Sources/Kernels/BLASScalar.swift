import COpenBLAS

/// The scalar types of calibrate's dense linear algebra (Float, Double), with the single-threaded
/// OpenBLAS and LAPACKE routine of each operation. Row-major throughout; see `BLAS` for the
/// tiled, multithreaded entry points built on these and `LAPACK` for the layout convention of
/// the LAPACKE calls.
protocol BLASScalar: BinaryFloatingPoint, Sendable {
    /// C ← α·op(A)·op(B) + β·C.
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// C ← α·op(A)·op(A)ᵀ + β·C on one triangle of the n×n C; op(A) is n×k (`transpose`: A is k×n).
    static func syrk(upper: Bool, transpose: Bool, n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// B ← α·op(A)⁻¹·B (`right` false) or α·B·op(A)⁻¹ (`right` true), A triangular, B m×n.
    static func trsm(right: Bool, lower: Bool, transpose: Bool, m: Int, n: Int, alpha: Self,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafeMutablePointer<Self>, ldb: Int)
    /// Cholesky A = L·Lᵀ in place of the lower triangle of the n×n block at `a` (row stride
    /// `lda`); LAPACK's info (0, or the order of the failing leading minor).
    static func choleskyLower(_ a: UnsafeMutablePointer<Self>, n: Int, lda: Int) -> Int
    /// L⁻¹ in place of the lower triangular n×n block at `a`; LAPACK's info.
    static func inverseLower(_ a: UnsafeMutablePointer<Self>, n: Int, lda: Int) -> Int
    /// The LAPACK routine names, for errors.
    static var choleskyRoutine: String { get }
    static var inverseRoutine: String { get }
}

extension BLASScalar {
    @inline(__always)
    static func order(_ transpose: Bool) -> CBLAS_TRANSPOSE { transpose ? CblasTrans : CblasNoTrans }
}

extension Float: BLASScalar {
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, order(transposeA), order(transposeB), BLAS.int32(m), BLAS.int32(n), BLAS.int32(k),
                    alpha, a, BLAS.int32(lda), b, BLAS.int32(ldb), beta, c, BLAS.int32(ldc))
    }
    static func syrk(upper: Bool, transpose: Bool, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_ssyrk(CblasRowMajor, upper ? CblasUpper : CblasLower, order(transpose), BLAS.int32(n), BLAS.int32(k),
                    alpha, a, BLAS.int32(lda), beta, c, BLAS.int32(ldc))
    }
    static func trsm(right: Bool, lower: Bool, transpose: Bool, m: Int, n: Int, alpha: Float,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafeMutablePointer<Float>, ldb: Int) {
        cblas_strsm(CblasRowMajor, right ? CblasRight : CblasLeft, lower ? CblasLower : CblasUpper, order(transpose), CblasNonUnit,
                    BLAS.int32(m), BLAS.int32(n), alpha, a, BLAS.int32(lda), b, BLAS.int32(ldb))
    }
    static func choleskyLower(_ a: UnsafeMutablePointer<Float>, n: Int, lda: Int) -> Int {
        // Row-major lower == column-major upper.
        Int(LAPACKE_spotrf(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "U")), BLAS.int32(n), a, BLAS.int32(lda)))
    }
    static func inverseLower(_ a: UnsafeMutablePointer<Float>, n: Int, lda: Int) -> Int {
        Int(LAPACKE_strtri(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "U")), Int8(UInt8(ascii: "N")), BLAS.int32(n), a, BLAS.int32(lda)))
    }
    static var choleskyRoutine: String { "spotrf" }
    static var inverseRoutine: String { "strtri" }
}

extension Double: BLASScalar {
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                     a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                     beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor, order(transposeA), order(transposeB), BLAS.int32(m), BLAS.int32(n), BLAS.int32(k),
                    alpha, a, BLAS.int32(lda), b, BLAS.int32(ldb), beta, c, BLAS.int32(ldc))
    }
    static func syrk(upper: Bool, transpose: Bool, n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
                     beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dsyrk(CblasRowMajor, upper ? CblasUpper : CblasLower, order(transpose), BLAS.int32(n), BLAS.int32(k),
                    alpha, a, BLAS.int32(lda), beta, c, BLAS.int32(ldc))
    }
    static func trsm(right: Bool, lower: Bool, transpose: Bool, m: Int, n: Int, alpha: Double,
                     a: UnsafePointer<Double>, lda: Int, b: UnsafeMutablePointer<Double>, ldb: Int) {
        cblas_dtrsm(CblasRowMajor, right ? CblasRight : CblasLeft, lower ? CblasLower : CblasUpper, order(transpose), CblasNonUnit,
                    BLAS.int32(m), BLAS.int32(n), alpha, a, BLAS.int32(lda), b, BLAS.int32(ldb))
    }
    static func choleskyLower(_ a: UnsafeMutablePointer<Double>, n: Int, lda: Int) -> Int {
        Int(LAPACKE_dpotrf(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "U")), BLAS.int32(n), a, BLAS.int32(lda)))
    }
    static func inverseLower(_ a: UnsafeMutablePointer<Double>, n: Int, lda: Int) -> Int {
        Int(LAPACKE_dtrtri(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "U")), Int8(UInt8(ascii: "N")), BLAS.int32(n), a, BLAS.int32(lda)))
    }
    static var choleskyRoutine: String { "dpotrf" }
    static var inverseRoutine: String { "dtrtri" }
}
