/// SplitMix64 (Steele, Lea and Flood 2014; the constants of Vigna's splitmix64.c): a 64-bit
/// generator whose whole state is one counter, so a seed gives the same stream on every machine
/// and Swift version (unlike `SystemRandomNumberGenerator`, or the standard library's
/// `random(in:using:)`, whose reduction algorithm is not a documented contract).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose stream is fixed by `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in [0, bound), by Lemire's multiply-and-reject method ("Fast Random
    /// Integer Generation in an Interval", 2019): the high half of `next() × bound`, drawing
    /// again while the low half falls in the biased zone below `2^64 mod bound`.
    /// - Precondition: `bound > 0`.
    public mutating func next(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "SplitMix64.next(below:) needs a positive bound")
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold { product = next().multipliedFullWidth(by: bound) }
        }
        return product.high
    }
}
