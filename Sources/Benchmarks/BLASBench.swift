import ArgumentParser
import Kernels

/// calibrate's tiled products and factor (the same bits for any thread count) next to OpenBLAS's
/// own multithreaded routines on the same shapes, in the same run.
struct BLASBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas",
        abstract: "Tiled sgemm, XᵀX and GPTQ's Cholesky + inverse against OpenBLAS's own threading, in GFLOP/s.")

    @Option(help: "Threads for both (default: the active cores).")
    var threads: Int?

    @Option(help: "Repetitions per shape; the fastest is reported.")
    var repetitions = 3

    @Option(help: "Factor sizes (comma-separated).")
    var factors = "1536,4096,8192"

    func run() throws {
        let threads = self.threads ?? BLAS.threadCount
        BLAS.setThreadCount(threads)
        print("\(threads) threads, OpenBLAS kernels \(BLAS.coreName); GFLOP/s, tiled (calibrate) vs one OpenBLAS call with its own threads")
        print("  \(pad("operation", 36))\(pad("tiled", 9))\(pad("OpenBLAS", 10))ratio")
        func row(_ name: String, _ flops: Double, tiled: (Int) -> Void, reference: (Int) -> Void) {
            let ours = flops / fastest(of: repetitions, tiled) / 1e9
            let theirs = flops / fastest(of: repetitions, reference) / 1e9
            print("  \(pad(name, 36))\(pad(format(ours, 1), 9))\(pad(format(theirs, 1), 10))\(format(ours / theirs, 2))")
        }
        // Forward products x·Wᵀ at SmolLM2 / Llama shapes: tokens × out × in.
        for (m, n, k) in [(512, 576, 576), (512, 1536, 576), (2048, 1536, 576), (512, 49152, 576), (2048, 4096, 4096), (2048, 14336, 4096)] {
            let a = benchValues(m * k, seed: 1), b = benchValues(n * k, seed: 2)
            var c = [Float](repeating: 0, count: m * n)
            row("sgemm \(m)×\(n)×\(k)", 2 * Double(m) * Double(n) * Double(k),
                tiled: { _ in BLAS.sgemm(transposeB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n) },
                reference: { _ in BLAS.Reference.sgemm(threads: threads, m: m, n: n, k: k, a: a, b: b, c: &c) })
        }
        // XᵀX, upper triangle: rows × K.
        for (rows, k) in [(2048, 1536), (2048, 4096)] {
            let x = benchValues(rows * k, seed: 3)
            var c = [Float](repeating: 0, count: k * k)
            row("XᵀX \(rows) × \(k)", Double(rows) * Double(k) * Double(k + 1),
                tiled: { _ in BLAS.ssyrkTransposed(n: k, rows: rows, a: x, lda: k, beta: 0, c: &c, ldc: k) },
                reference: { _ in BLAS.Reference.ssyrk(threads: threads, n: k, rows: rows, x: x, c: &c) })
        }
        // GPTQ's factor: Cholesky + triangular inverse of an SPD K×K (2K³/3 flops).
        for k in factors.split(separator: ",").compactMap({ Int($0) }) {
            let rows = k + 64
            let x = benchValues(rows * k, seed: 4)
            var h = [Float](repeating: 0, count: k * k)
            BLAS.ssyrkTransposed(n: k, rows: rows, alpha: 1 / Float(rows), a: x, lda: k, beta: 0, c: &h, ldc: k)
            for i in 0..<k {
                for j in 0..<i { h[i * k + j] = h[j * k + i] }
                h[i * k + i] += 0.01
            }
            var work = h
            row("Cholesky + inverse \(k)", 2 * Double(k) * Double(k) * Double(k) / 3,
                tiled: { _ in work = h; try? BLAS.inverseCholesky(&work, n: k) },
                reference: { _ in work = h; try? BLAS.Reference.inverseCholesky(threads: threads, &work, n: k) })
        }
    }
}
