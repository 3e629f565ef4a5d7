import Tensors

/// Rates of the job's kernels measured on this machine, on random inputs, with the BLAS thread
/// count set at the time: what `coordinator plan` divides by when no rate is given, and what the
/// benchmarks print as their same-run references. Each is the fastest of a few repetitions.
public enum KernelRates {
    /// sgemm GFLOP/s over `shapes` (out × in, each weighted by `count`) at `rows` rows.
    public static func sgemm(shapes: [(n: Int, k: Int, count: Int)], rows: Int = 512, repetitions: Int = 3) -> Double {
        let widest = shapes.map { max($0.n, $0.k) }.max() ?? 1
        let a = randomValues(rows * widest, seed: 1)
        let b = randomValues(widest * widest, seed: 2)
        var c = [Float](repeating: 0, count: rows * widest)
        var (flops, seconds) = (0.0, 0.0)
        for (n, k, count) in shapes {
            let time = fastest(of: repetitions) {
                BLAS.sgemm(transposeB: true, m: rows, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n)
            }
            flops += Double(count) * 2 * Double(rows * n * k)
            seconds += Double(count) * time
        }
        return flops / seconds / 1e9
    }

    /// XᵀX accumulation of `rows` random rows of width `columns`: GFLOP/s counting columns² per
    /// row (`JobCost`'s convention; the job's batches are ≈ 2048 rows), and the statistics for the
    /// probes below.
    public static func statistics(columns: Int, rows: Int) throws(KernelError) -> (gflops: Double, statistics: ActivationStatistics) {
        let x = randomValues(rows * columns, seed: 3)
        var statistics = ActivationStatistics(columns: columns)
        // Once to touch the sums' pages, then timed (a job adds batches to warm sums), the
        // fastest of three: this VM's speed drifts by up to 2× between runs a second apart.
        try statistics.accumulate(x, rows: rows, layer: 0, module: "probe")
        var seconds = Double.infinity
        for _ in 0..<3 {
            let start = ContinuousClock.now
            try statistics.accumulate(x, rows: rows, layer: 0, module: "probe")
            seconds = min(seconds, elapsed(since: start))
        }
        return (Double(columns) * Double(columns) * Double(rows) / seconds / 1e9, statistics)
    }

    /// GPTQ's factor of `statistics`: GFLOP/s counting K³.
    public static func factor(_ statistics: ActivationStatistics) throws(KernelError) -> (gflops: Double, factor: GPTQFactor) {
        let start = ContinuousClock.now
        let factor = try GPTQ.prepareFactor(statistics: statistics)
        let k = Double(statistics.columns)
        return (k * k * k / elapsed(since: start) / 1e9, factor)
    }

    /// GPTQ's solve of `rows` random rows with `factor` (4-bit, group 128): GFLOP/s counting K² per row.
    public static func solve(_ factor: GPTQFactor, rows: Int) throws(KernelError) -> Double {
        let k = factor.columns
        let weights = Matrix(rows: rows, columns: k, values: randomValues(rows * k, seed: 4).map { $0 * 0.05 })
        let options = GPTQSolveOptions(scheme: try QuantizationScheme(bits: 4, symmetric: true, groupSize: min(128, k)))
        let start = ContinuousClock.now
        _ = try GPTQ.solve(GPTQSolveRequest(firstRow: 0, weights: weights, options: options), factor: factor)
        return Double(rows) * Double(k) * Double(k) / elapsed(since: start) / 1e9
    }

    /// Packing, unpacking and merging `statistics`' sums, in bytes per second of their 16-byte
    /// form, and the packed bytes per sum (random inputs pack tighter than real activations).
    public static func packing(_ statistics: ActivationStatistics) throws(KernelError) -> (pack: Double, unpack: Double, merge: Double, bytesPerSum: Double) {
        let sums = statistics.gramSums
        let bytes = Double(16 * sums.count)
        var packed: [UInt8] = []
        let pack = fastest(of: 2) { packed = FixedPointPacking.pack(sums) }
        var unpackSeconds = Double.infinity
        for _ in 0..<2 {
            let start = ContinuousClock.now
            let result = packed.withUnsafeBytes { buffer in Result { () throws(KernelError) in try FixedPointPacking.unpack(buffer, count: sums.count) } }
            _ = try result.get()
            unpackSeconds = min(unpackSeconds, elapsed(since: start))
        }
        let start = ContinuousClock.now
        _ = try ActivationStatistics.merged([statistics, statistics])
        let merge = 2 * bytes / elapsed(since: start)
        return (bytes / pack, bytes / unpackSeconds, merge, Double(packed.count) / Double(sums.count))
    }

    /// Copying `bytes` bytes, bytes per second.
    public static func memoryCopy(bytes: Int = 64 << 20) -> Double {
        let source = [UInt8](repeating: 1, count: bytes)
        var target = [UInt8](repeating: 0, count: bytes)
        let seconds = fastest(of: 3) {
            target.withUnsafeMutableBytes { t in source.withUnsafeBytes { s in t.copyMemory(from: s) } }
        }
        return Double(bytes) / seconds
    }

    private static func fastest(of repetitions: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<repetitions {
            let start = ContinuousClock.now
            body()
            best = min(best, elapsed(since: start))
        }
        return best
    }

    private static func elapsed(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return max(d.seconds, 1e-9)
    }

    /// Uniform values on [-1, 1) from xorshift64 (probe inputs; `ForwardRate` uses them too).
    public static func randomValues(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return Float(Int64(bitPattern: state &* 0x2545_F491_4F6C_DD1D) >> 40) / Float(1 << 23)
        }
    }
}
