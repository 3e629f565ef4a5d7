import ArgumentParser
import Kernels

/// Throughput of XᵀX accumulation (`ActivationStatistics.accumulate`) next to sgemm.
struct StatsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xtx",
        abstract: "Activation-statistics accumulation (XᵀX in float32 panels folded into float64, absmax, sums) in GFLOP/s next to sgemm.")

    @Option(help: "Input widths (comma-separated).")
    var widths = "4096,8192"

    @Option(help: "Tokens per batch.")
    var batch = 2048

    @Option(help: "Batches per width; the fastest is reported.")
    var batches = 3

    @Option(help: "BLAS threads.")
    var threads = 2

    func run() throws {
        BLAS.setThreadCount(threads)
        let sgemm = measuredSgemmRate()
        print("XᵀX accumulation, \(batch) tokens per batch, \(threads) BLAS threads; sgemm 4096³: \(format(sgemm, 1)) GFLOP/s")
        print("  \(pad("K", 8))\(pad("s/batch", 10))\(pad("GFLOP/s", 10))\(pad("% sgemm", 9))merge s")
        for k in widths.split(separator: ",").compactMap({ Int($0) }) {
            let x = benchValues(batch * k, seed: UInt64(k))
            var statistics = ActivationStatistics(columns: k)
            var failure: (any Error)?
            let seconds = fastest(of: batches) { r in
                do { try statistics.accumulate(x, rows: batch, layer: r, module: "bench") } catch { failure = error }
            }
            if let failure { throw failure }
            // Useful work: the upper triangle of XᵀX, K(K+1)/2 dot products of length `batch`.
            let gflops = Double(k) * Double(k + 1) * Double(batch) / seconds / 1e9
            var merged = statistics
            let mergeSeconds = fastest(of: 2) { _ in try? merged.merge(statistics) }
            print("  \(pad(String(k), 8))\(pad(format(seconds, 3), 10))\(pad(format(gflops, 1), 10))\(pad(format(gflops / sgemm * 100, 0) + "%", 9))\(format(mergeSeconds, 3))")
        }
    }
}
