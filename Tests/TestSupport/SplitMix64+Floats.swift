@_exported import struct Datasets.SplitMix64

/// The tests' seeded inputs come from the generator calibration sampling uses (`Datasets`), one
/// implementation for both; tests add uniform Floats.
extension SplitMix64 {
    /// Uniform in [−1, 1): the top 53 bits as a Double, scaled, rounded to Float.
    public mutating func float() -> Float { Float(Double(next() >> 11) / Double(1 << 53) * 2 - 1) }

    /// `count` draws of `float()`.
    public mutating func floats(_ count: Int) -> [Float] { (0..<count).map { _ in float() } }
}
