import COpenBLAS
import Dispatch
import Foundation
import Synchronization

/// The threads calibrate computes with, and the one place that runs work on them.
///
/// OpenBLAS itself always runs single-threaded (pinned here, before any BLAS or LAPACK call):
/// its multithreaded routines round differently for each thread count, and differently again
/// when other threads of the process call BLAS at the same time (measured, docs/ARCHITECTURE.md,
/// "Same bytes and BLAS threads"). Parallel products instead split their output into a tile grid
/// fixed by the problem's shape alone (`TileGrid`) and run one single-threaded BLAS call per tile
/// here. Which thread runs a tile, and how many threads there are, cannot change a bit.
public enum ComputeThreads {
    /// Threads for tiled work: `set`, else `OPENBLAS_NUM_THREADS` / `OMP_NUM_THREADS` (what
    /// Slurm scripts and users already set for BLAS), else the active cores.
    public static var count: Int {
        if let taskCount { return taskCount }
        let configured = configuredCount.load(ordering: .relaxed)
        return configured > 0 ? configured : defaultCount
    }

    /// A thread count for tiled work started by the current task (and its child tasks) only,
    /// before the process-wide one: `ComputeThreads.$taskCount.withValue(3) { … }`.
    @TaskLocal public static var taskCount: Int?

    /// Sets the process-wide thread count for tiled work (at least 1).
    public static func set(_ count: Int) {
        pinOpenBLAS()
        configuredCount.store(max(1, count), ordering: .relaxed)
    }

    /// Makes OpenBLAS single-threaded, once per process. Every BLAS and LAPACK entry point calls it.
    @inline(__always)
    static func pinOpenBLAS() { _ = openBLASPinned }

    /// Runs `body(t)` for every tile t in 0..<tiles, on up to `count` threads taking tiles in
    /// turn (the calling thread among them). With one thread, or when the whole job is below
    /// `parallelFlops`, the tiles run in order on the calling thread: scheduling never changes
    /// what a tile computes, only where.
    static func forEach(tiles: Int, flops: Double, _ body: @Sendable (Int) -> Void) {
        let lanes = flops < parallelFlops ? 1 : min(count, tiles)
        guard lanes > 1 else {
            for tile in 0..<tiles { body(tile) }
            return
        }
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: lanes) { _ in
            while true {
                let tile = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard tile < tiles else { return }
                body(tile)
            }
        }
    }

    /// Below this many flops a product runs on the calling thread (handing tiles to other threads
    /// costs tens of microseconds).
    static let parallelFlops = 4.0e6

    private static let configuredCount = Atomic<Int>(0)

    private static let defaultCount: Int = {
        for name in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"] {
            if let text = ProcessInfo.processInfo.environment[name], let value = Int(text), value > 0 { return value }
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    private static let openBLASPinned: Void = { openblas_set_num_threads(1) }()
}
