@_exported import struct Datasets.SplitMix64

/// The tests' seeded inputs come from the generator calibration sampling uses (`Datasets`), one
/// implementation for both; tests add uniform Floats.
extension SplitMix64 {
    /// Uniform in [−1, 1): the top 53 bits as a Double, scaled, rounded to Float.
    public mutating func float() -> Float { Float(Double(next() >> 11) / Double(1 << 53) * 2 - 1) }

    /// `count` draws of `float()`.
    public mutating func floats(_ count: Int) -> [Float] { (0..<count).map { _ in float() } }
}

/// `count` token sequences of `length` pseudo-random ids below `vocabulary`, from a 64-bit linear
/// congruential generator (Knuth's MMIX constants) started at `seed`: the calibration samples of
/// the job tests (their pinned digests depend on exactly these ids).
public func tokenSequences(count: Int, length: Int, vocabulary: Int, seed: UInt64) -> [[Int32]] {
    var state = seed
    return (0..<count).map { _ in
        (0..<length).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int32((state >> 33) % UInt64(vocabulary))
        }
    }
}
