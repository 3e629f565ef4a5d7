/// Bounds on inbound messages; anything larger is refused as `.oversize` before it is used.
public struct WireLimits: Sendable, Equatable {
    /// Bytes of the envelope (frame 0). Descriptors are ~50 bytes each; 1 MiB is far above any real envelope.
    public var maxEnvelopeBytes: Int
    /// Bytes of one tensor frame. The default, 8 GiB, holds the largest statistics tensor of a
    /// 70B-class model (down_proj's 28672² XᵀX sum in float64 is 6.1 GiB).
    public var maxFrameBytes: Int
    /// Tensor frames per message (a streamed layer has a dozen).
    public var maxFrames: Int

    public init(maxEnvelopeBytes: Int = 1 << 20, maxFrameBytes: Int = 8 << 30, maxFrames: Int = 1024) {
        self.maxEnvelopeBytes = maxEnvelopeBytes
        self.maxFrameBytes = maxFrameBytes
        self.maxFrames = maxFrames
    }
}
