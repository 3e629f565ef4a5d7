import Kernels

/// The in-run BLAS reference of the kernel benchmarks: the fastest of `repetitions` n×n×n
/// sgemm calls, in GFLOP/s — OpenBLAS's own threading on `BLAS.threadCount` threads
/// (`BLAS.Reference`), not calibrate's tiles.
func measuredSgemmRate(n: Int = 4096, repetitions: Int = 3) -> Double {
    var a = [Float](repeating: 0, count: n * n)
    for i in 0..<(n * n) { a[i] = Float(i % 97) * 0.01 - 0.4 }
    let b = a
    var c = [Float](repeating: 0, count: n * n)
    let seconds = fastest(of: repetitions) { r in
        a[r] += 1
        BLAS.Reference.sgemm(threads: BLAS.threadCount, m: n, n: n, k: n, a: a, b: b, c: &c)
    }
    if c[n + 1].isNaN { print("") }
    return 2 * Double(n) * Double(n) * Double(n) / seconds / 1e9
}

/// Deterministic pseudo-random values in [−1, 1) (SplitMix64), cheap enough for gigabytes.
func benchValues(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed
    return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        for i in 0..<count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            buffer[i] = Float(Int32(truncatingIfNeeded: z)) * 0x1p-31
        }
        initialized = count
    }
}

/// The in-run reference for F64 work: the fastest of `repetitions` dgemm calls of an m×k by
/// k×k product (the shape of AWQ's error tiles against XᵀX), in GFLOP/s.
func measuredDgemmRate(m: Int, k: Int, repetitions: Int = 3) -> Double {
    var a = [Double](repeating: 0, count: m * k)
    for i in 0..<(m * k) { a[i] = Double(i % 89) * 0.01 - 0.4 }
    var b = [Double](repeating: 0, count: k * k)
    for i in 0..<(k * k) { b[i] = Double(i % 97) * 0.01 - 0.4 }
    var c = [Double](repeating: 0, count: m * k)
    let seconds = fastest(of: repetitions) { r in
        a[r] += 1
        BLAS.dgemm(m: m, n: k, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: k)
    }
    if c[k + 1].isNaN { print("") }
    return 2 * Double(m) * Double(k) * Double(k) / seconds / 1e9
}
