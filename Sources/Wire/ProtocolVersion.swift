/// The wire protocol's version and the rules that make versions meet.
///
/// Both sides put their version in every envelope. A handshake between different versions is
/// refused with a message naming both; after it, any message of another version is a protocol
/// violation. Envelope fields 1–6 and the Hello, Welcome and Error bodies never change, so that a
/// worker of any version can decode a Hello and refuse it with an Error the coordinator can read
/// (see Protocols/README.md).
public enum WireProtocol {
    /// The version this build speaks. Bump it for any change that alters the meaning of a field
    /// or adds a field a receiver must not ignore.
    ///
    /// 3: `ZMQTransport` sends a message larger than its chunk size (1 MiB) in chunks behind a
    /// transport header, which a version-2 peer would read as a malformed envelope. Smaller
    /// messages — the handshake among them — are framed as in version 2, so the handshake is
    /// where old and new peers refuse each other, naming both versions.
    /// 4: Release / Released (rebalancing when workers join) and Adopt's "states" frame.
    /// 5: StatsReport's sums packed (`FixedPointPacking`: U8 frames), not I64 [n, 2].
    public static let version: UInt32 = 5

    /// Message types whose layout is frozen across versions: they decode whatever the sender's
    /// version, so a version mismatch can be detected and reported rather than misread.
    public static let versionIndependentTypes: Set<MessageType> = [.hello, .welcome, .error]
}
