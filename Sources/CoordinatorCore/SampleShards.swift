/// How the calibration sequences are split across workers: contiguous ranges in worker order,
/// sized in proportion to each worker's capacity (largest-remainder rounding, ties to the lower
/// worker index), so the split is a pure function of the sample count and the capacities.
public enum SampleShards {
    /// The range of sample indices of each worker, each made of whole blocks of `block` samples
    /// (the last block may be short): statistics are accumulated a block at a time, so blocks
    /// must not straddle workers.
    public static func split(samples: Int, capacities: [Int], block: Int) -> [Range<Int>] {
        let blocks = (samples + block - 1) / block
        return split(samples: blocks, capacities: capacities).map { min($0.lowerBound * block, samples)..<min($0.upperBound * block, samples) }
    }

    /// The range of sample indices of each worker.
    /// - Parameters:
    ///   - samples: the number of sequences.
    ///   - capacities: one positive weight per worker (e.g. slots × cores).
    /// - Returns: `capacities.count` contiguous ranges covering `0..<samples` in order.
    public static func split(samples: Int, capacities: [Int]) -> [Range<Int>] {
        precondition(!capacities.isEmpty && capacities.allSatisfy { $0 > 0 }, "capacities must be positive")
        let total = capacities.reduce(0, +)
        var counts = capacities.map { samples * $0 / total }
        let remainders = capacities.enumerated().map { (index: $0.offset, remainder: samples * $0.element % total) }
        var left = samples - counts.reduce(0, +)
        for entry in remainders.sorted(by: { ($0.remainder, -$0.index) > ($1.remainder, -$1.index) }) where left > 0 {
            counts[entry.index] += 1
            left -= 1
        }
        var start = 0
        return counts.map { count in
            defer { start += count }
            return start..<(start + count)
        }
    }
}
