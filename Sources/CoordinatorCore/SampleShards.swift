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

/// Sets of samples as runs of global sample indices (`Range<Int>`), as workers hold them: every
/// run starts on a statistics block boundary.
enum SampleRuns {
    /// `runs` cut into statistics blocks of `block` samples (a run's last block may be short), in order.
    static func units(of runs: [Range<Int>], block: Int) -> [Range<Int>] {
        runs.sorted { $0.lowerBound < $1.lowerBound }.flatMap { run in
            stride(from: run.lowerBound, to: run.upperBound, by: block).map { $0..<min($0 + block, run.upperBound) }
        }
    }

    /// Adjacent ranges of `units` (sorted) joined into runs.
    static func merged(_ units: [Range<Int>]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        for unit in units.sorted(by: { $0.lowerBound < $1.lowerBound }) where !unit.isEmpty {
            if let last = runs.last, last.upperBound == unit.lowerBound {
                runs[runs.count - 1] = last.lowerBound..<unit.upperBound
            } else {
                runs.append(unit)
            }
        }
        return runs
    }

    /// The samples of `runs` that are not in `removed`, as runs in order.
    static func subtract(_ removed: [Range<Int>], from runs: [Range<Int>]) -> [Range<Int>] {
        let gone = Set(removed.flatMap { $0 })
        var result: [Range<Int>] = []
        for sample in runs.sorted(by: { $0.lowerBound < $1.lowerBound }).flatMap({ $0 }) where !gone.contains(sample) {
            if let last = result.last, last.upperBound == sample {
                result[result.count - 1] = last.lowerBound..<(sample + 1)
            } else {
                result.append(sample..<(sample + 1))
            }
        }
        return result
    }
}
