import COpenBLAS

/// Row-major BLAS through OpenBLAS's cblas. Every call into cblas in calibrate goes through this
/// file. Dimensions are `Int` here and `Int32` in cblas (Debian's OpenBLAS is LP64): each single
/// dimension must stay below 2³¹, which `precondition` checks.
public enum BLAS {
    /// Sets OpenBLAS's thread count (`openblas_set_num_threads`). Call once at start-up: calibrate
    /// never stacks its own parallel tasks on top of a multithreaded BLAS.
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// OpenBLAS's current thread count (`openblas_get_num_threads`).
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// The kernel family OpenBLAS picked for this CPU (`openblas_get_corename`: "Haswell",
    /// "SkylakeX", "Zen"…; `OPENBLAS_CORETYPE` overrides it). Kernels of different families round
    /// differently, so workers on different ones can write different bytes.
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// C ← α·op(A)·op(B) + β·C for row-major Float matrices (`cblas_sgemm`).
    /// - Parameters:
    ///   - m, n, k: op(A) is m×k, op(B) is k×n, C is m×n.
    ///   - lda, ldb, ldc: leading dimensions (row strides) of A, B, C as stored.
    @inlinable
    public static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    int32(m), int32(n), int32(k), alpha, a, int32(lda), b, int32(ldb), beta, c, int32(ldc))
    }

    /// C ← α·op(A)·op(B) + β·C for row-major Double matrices (`cblas_dgemm`).
    @inlinable
    public static func dgemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Double = 1, a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        cblas_dgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    int32(m), int32(n), int32(k), alpha, a, int32(lda), b, int32(ldb), beta, c, int32(ldc))
    }

    /// C ← α·AᵀA + β·C for a row-major Float A of `rows`×`n` (`cblas_ssyrk`, trans = T).
    /// Only the **upper** triangle of the n×n C (row-major: entries with column ≥ row) is written.
    @inlinable
    public static func ssyrkTransposed(
        n: Int, rows: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard n > 0 else { return }
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, int32(n), int32(rows), alpha, a, int32(lda), beta, c, int32(ldc))
    }

    /// C ← α·AᵀA + β·C for a row-major Double A (`cblas_dsyrk`); upper triangle only.
    @inlinable
    public static func dsyrkTransposed(
        n: Int, rows: Int, alpha: Double = 1, a: UnsafePointer<Double>, lda: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        guard n > 0 else { return }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, int32(n), int32(rows), alpha, a, int32(lda), beta, c, int32(ldc))
    }

    @usableFromInline
    static func int32(_ value: Int) -> Int32 {
        precondition(value >= 0 && value <= Int(Int32.max), "BLAS dimension \(value) does not fit cblas's 32-bit int")
        return Int32(value)
    }
}
