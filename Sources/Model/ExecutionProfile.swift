#if canImport(Glibc)
import Glibc
#endif

/// Where an executor's time went, accumulated over every layer it ran since the last reset.
public struct ExecutionProfile: Sendable, Equatable {
    /// Seconds and floating-point operations of the linear layers' matrix products.
    public var linearSeconds = 0.0
    public var linearFlops = 0.0
    /// Seconds and floating-point operations of attention (scores, softmax, weighted values).
    public var attentionSeconds = 0.0
    public var attentionFlops = 0.0
    /// Wall-clock seconds of whole layers (everything: norms, RoPE, copies included).
    public var totalSeconds = 0.0
    /// Tokens × layers processed.
    public var tokenLayers = 0

    public init() {}

    /// Wall-clock seconds from a monotonic clock (`clock_gettime(CLOCK_MONOTONIC)`).
    public static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
    }
}
