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
            try packing(statistics.gramSums, k: k)
        }
    }

    /// XᵀX's sums as the wire packs them (`FixedPointPacking`): bytes per sum and the packing's
    /// speed in GB/s of the 16-byte form, next to a memcpy of that form.
    func packing(_ sums: [Int128], k: Int) throws {
        let bytes = sums.count * 16
        var copy = [Int128](repeating: 0, count: sums.count)
        let copySeconds = fastest(of: 3) { _ in sums.withUnsafeBytes { source in copy.withUnsafeMutableBytes { $0.copyMemory(from: source) } } }
        var packed: [UInt8] = []
        let packSeconds = fastest(of: 3) { _ in packed = FixedPointPacking.pack(sums) }
        var failure: (any Error)?
        let unpackSeconds = fastest(of: 3) { _ in
            do { copy = try packed.withUnsafeBytes { try FixedPointPacking.unpack($0, count: sums.count) } } catch { failure = error }
        }
        if let failure { throw failure }
        guard copy == sums else { throw ValidationError("K \(k): packed sums did not come back exactly") }
        print("    packed XᵀX: \(format(Double(packed.count) / Double(sums.count), 2)) bytes per sum (16 unpacked); "
              + "pack \(format(Double(bytes) / packSeconds / 1e9, 2)) GB/s, unpack \(format(Double(bytes) / unpackSeconds / 1e9, 2)) GB/s, "
              + "memcpy \(format(Double(bytes) / copySeconds / 1e9, 2)) GB/s (of the 16-byte form)")
    }
}
