import COpenBLAS

/// Row-major BLAS through OpenBLAS's cblas. Every call into cblas in calibrate goes through this
/// file or `BLASScalar`. Dimensions are `Int` here and `Int32` in cblas (Debian's OpenBLAS is
/// LP64): each single dimension must stay below 2³¹, which `precondition` checks.
///
/// **Same bits for any thread count.** Each product splits its output into the `TileGrid` of its
/// shape (256 × 256 tiles) and computes every tile with one single-threaded BLAS call, on
/// `ComputeThreads`. The grid depends on m, n (and k) alone, so the bits of every element are
/// fixed by the call's shape and operands: not by the thread count, the scheduling or other
/// threads calling BLAS meanwhile — which OpenBLAS's own threading does not give.
public enum BLAS {
    /// Sets the compute thread count (`ComputeThreads.set`); results do not depend on it.
    public static func setThreadCount(_ count: Int) { ComputeThreads.set(count) }

    /// The compute thread count tiled products run on.
    public static var threadCount: Int { ComputeThreads.count }

    /// The kernel family OpenBLAS picked for this CPU (`openblas_get_corename`: "Haswell",
    /// "SkylakeX", "Zen"…; `OPENBLAS_CORETYPE` overrides it). Kernels of different families round
    /// differently, so workers on different ones can write different bytes.
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// C ← α·op(A)·op(B) + β·C for row-major Float matrices (`cblas_sgemm`, tiled).
    /// - Parameters:
    ///   - m, n, k: op(A) is m×k, op(B) is k×n, C is m×n.
    ///   - lda, ldb, ldc: leading dimensions (row strides) of A, B, C as stored.
    public static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
             beta: beta, c: c, ldc: ldc)
    }

    /// C ← α·op(A)·op(B) + β·C for row-major Double matrices (`cblas_dgemm`, tiled).
    public static func dgemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Double = 1, a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
             beta: beta, c: c, ldc: ldc)
    }

    /// C ← α·AᵀA + β·C for a row-major Float A of `rows`×`n` (`cblas_ssyrk`, trans = T, tiled).
    /// Only the **upper** triangle of the n×n C (row-major: entries with column ≥ row) is written.
    public static func ssyrkTransposed(
        n: Int, rows: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        gramUpper(n: n, rows: rows, alpha: alpha, a: a, lda: lda, beta: beta, c: c, ldc: ldc)
    }

    /// C ← α·AᵀA + β·C for a row-major Double A (`cblas_dsyrk`, tiled); upper triangle only.
    public static func dsyrkTransposed(
        n: Int, rows: Int, alpha: Double = 1, a: UnsafePointer<Double>, lda: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        gramUpper(n: n, rows: rows, alpha: alpha, a: a, lda: lda, beta: beta, c: c, ldc: ldc)
    }

    /// The tiled product: tile (rows r, columns j) of C from rows r of op(A) and columns j of op(B).
    static func gemm<T: BLASScalar>(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: T, a: UnsafePointer<T>, lda: Int,
        b: UnsafePointer<T>, ldb: Int, beta: T, c: UnsafeMutablePointer<T>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        ComputeThreads.pinOpenBLAS()
        let grid = TileGrid(rows: m, columns: n)
        let operands = TileOperands(a: a, b: b, c: c)
        ComputeThreads.forEach(tiles: grid.count, flops: 2 * Double(m) * Double(n) * Double(k)) { index in
            let (rows, columns) = grid.tile(index)
            // Row r of op(A) starts at a + r·lda, or at column r of the stored k×m A when transposed;
            // column j of op(B) is column j of B, or row j of the stored n×k B when transposed.
            T.gemm(transposeA: transposeA, transposeB: transposeB, m: rows.count, n: columns.count, k: k, alpha: alpha,
                   a: operands.a + (transposeA ? rows.lowerBound : rows.lowerBound * lda), lda: lda,
                   b: operands.b + (transposeB ? columns.lowerBound * ldb : columns.lowerBound), ldb: ldb,
                   beta: beta, c: operands.c + rows.lowerBound * ldc + columns.lowerBound, ldc: ldc)
        }
    }

    /// The tiled upper-triangle Gram product: diagonal tiles by syrk, tiles above it by gemm.
    static func gramUpper<T: BLASScalar>(
        n: Int, rows: Int, alpha: T, a: UnsafePointer<T>, lda: Int, beta: T, c: UnsafeMutablePointer<T>, ldc: Int
    ) {
        guard n > 0 else { return }
        ComputeThreads.pinOpenBLAS()
        let tiles = TileGrid.upperTriangle(n)
        let operands = TileOperands(a: a, b: a, c: c)
        ComputeThreads.forEach(tiles: tiles.count, flops: Double(n) * Double(n) * Double(rows)) { index in
            let (i, j) = tiles[index]
            if i == j {
                T.syrk(upper: true, transpose: true, n: i.count, k: rows, alpha: alpha, a: operands.a + i.lowerBound, lda: lda,
                       beta: beta, c: operands.c + i.lowerBound * ldc + i.lowerBound, ldc: ldc)
            } else {
                T.gemm(transposeA: true, transposeB: false, m: i.count, n: j.count, k: rows, alpha: alpha,
                       a: operands.a + i.lowerBound, lda: lda, b: operands.b + j.lowerBound, ldb: lda,
                       beta: beta, c: operands.c + i.lowerBound * ldc + j.lowerBound, ldc: ldc)
            }
        }
    }

    @usableFromInline
    static func int32(_ value: Int) -> Int32 {
        precondition(value >= 0 && value <= Int(Int32.max), "BLAS dimension \(value) does not fit cblas's 32-bit int")
        return Int32(value)
    }
}

/// The fixed partition of an m×n output into tiles of at most `edge` × `edge`, row-major order.
/// It depends on the shape alone: this is what makes tiled results independent of threads.
struct TileGrid {
    static let edge = 256

    let rows: Int
    let columns: Int

    var rowTiles: Int { (rows + Self.edge - 1) / Self.edge }
    var columnTiles: Int { (columns + Self.edge - 1) / Self.edge }
    var count: Int { rowTiles * columnTiles }

    /// Tile `index`: its rows and columns of the output.
    func tile(_ index: Int) -> (rows: Range<Int>, columns: Range<Int>) {
        let (r, c) = (index / columnTiles, index % columnTiles)
        return (Self.span(r, rows), Self.span(c, columns))
    }

    /// Block `index` of 0..<extent.
    static func span(_ index: Int, _ extent: Int) -> Range<Int> {
        (index * edge)..<min((index + 1) * edge, extent)
    }

    /// The blocks (i, j), i ≤ j, covering the upper triangle of an n×n matrix.
    static func upperTriangle(_ n: Int) -> [(Range<Int>, Range<Int>)] {
        let blocks = (n + edge - 1) / edge
        return (0..<blocks).flatMap { i in (i..<blocks).map { j in (span(i, n), span(j, n)) } }
    }
}

/// The operands of a tiled call, handed to its threads: tiles read A and B and write disjoint
/// parts of C.
struct TileOperands<T>: @unchecked Sendable {
    let a: UnsafePointer<T>
    let b: UnsafePointer<T>
    let c: UnsafeMutablePointer<T>
}
