import COpenBLAS

/// LAPACK through LAPACKE. Every call into LAPACKE in calibrate goes through this file.
///
/// Symmetric matrices are passed **column-major**: a symmetric row-major matrix is the same array
/// read column-major, and LAPACKE's row-major entry points would transpose a copy first. Asking for
/// the column-major *lower* triangle writes the row-major *upper* triangle, and vice versa.
public enum LAPACK {
    /// A factorization failed: the matrix is not positive definite at `order` (LAPACK's info > 0),
    /// or an argument was illegal (info < 0).
    public struct Failure: Error, CustomStringConvertible, Sendable, Equatable {
        public let routine: String
        public let info: Int

        public init(routine: String, info: Int) {
            self.routine = routine
            self.info = info
        }

        public var description: String {
            info > 0
                ? "\(routine): the leading minor of order \(info) is not positive definite"
                : "\(routine): argument \(-info) had an illegal value"
        }
    }

    /// Which triangle of a row-major symmetric matrix holds the data.
    public enum Triangle: Sendable { case upper, lower }

    /// Cholesky factorization in place of a row-major symmetric positive definite n×n matrix:
    /// `.upper` gives U with A = UᵀU in the upper triangle; `.lower` gives L with A = LLᵀ in the
    /// lower triangle (`LAPACKE_dpotrf`). The other triangle is left untouched.
    public static func choleskyFactor(_ a: UnsafeMutablePointer<Double>, n: Int, triangle: Triangle) throws(Failure) {
        ComputeThreads.pinOpenBLAS()
        // Row-major upper == column-major lower.
        let info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, triangle == .upper ? lowerChar : upperChar, Int32(n), a, Int32(n))
        guard info == 0 else { throw Failure(routine: "dpotrf", info: Int(info)) }
    }

    /// Single-precision `choleskyFactor` (`LAPACKE_spotrf`).
    public static func choleskyFactor(_ a: UnsafeMutablePointer<Float>, n: Int, triangle: Triangle) throws(Failure) {
        ComputeThreads.pinOpenBLAS()
        let info = LAPACKE_spotrf(LAPACK_COL_MAJOR, triangle == .upper ? lowerChar : upperChar, Int32(n), a, Int32(n))
        guard info == 0 else { throw Failure(routine: "spotrf", info: Int(info)) }
    }

    /// The inverse of A from its Cholesky factor, in place, in the same triangle (`LAPACKE_dpotri`).
    public static func inverseFromCholesky(_ a: UnsafeMutablePointer<Double>, n: Int, triangle: Triangle) throws(Failure) {
        ComputeThreads.pinOpenBLAS()
        let info = LAPACKE_dpotri(LAPACK_COL_MAJOR, triangle == .upper ? lowerChar : upperChar, Int32(n), a, Int32(n))
        guard info == 0 else { throw Failure(routine: "dpotri", info: Int(info)) }
    }

    /// Single-precision `inverseFromCholesky` (`LAPACKE_spotri`).
    public static func inverseFromCholesky(_ a: UnsafeMutablePointer<Float>, n: Int, triangle: Triangle) throws(Failure) {
        ComputeThreads.pinOpenBLAS()
        let info = LAPACKE_spotri(LAPACK_COL_MAJOR, triangle == .upper ? lowerChar : upperChar, Int32(n), a, Int32(n))
        guard info == 0 else { throw Failure(routine: "spotri", info: Int(info)) }
    }

    /// The inverse of a triangular row-major n×n matrix, in place, in the same triangle
    /// (`LAPACKE_dtrtri`, non-unit diagonal). The other triangle is left untouched.
    public static func triangularInverse(_ a: UnsafeMutablePointer<Double>, n: Int, triangle: Triangle) throws(Failure) {
        ComputeThreads.pinOpenBLAS()
        let info = LAPACKE_dtrtri(LAPACK_COL_MAJOR, triangle == .upper ? lowerChar : upperChar, nonUnitChar, Int32(n), a, Int32(n))
        guard info == 0 else { throw Failure(routine: "dtrtri", info: Int(info)) }
    }

    /// Single-precision `triangularInverse` (`LAPACKE_strtri`).
    public static func triangularInverse(_ a: UnsafeMutablePointer<Float>, n: Int, triangle: Triangle) throws(Failure) {
        ComputeThreads.pinOpenBLAS()
        let info = LAPACKE_strtri(LAPACK_COL_MAJOR, triangle == .upper ? lowerChar : upperChar, nonUnitChar, Int32(n), a, Int32(n))
        guard info == 0 else { throw Failure(routine: "strtri", info: Int(info)) }
    }

    private static let nonUnitChar = Int8(UInt8(ascii: "N"))
    private static let upperChar = Int8(UInt8(ascii: "U"))
    private static let lowerChar = Int8(UInt8(ascii: "L"))
}
