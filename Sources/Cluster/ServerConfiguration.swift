import Wire

/// How a `WorkerServer` presents itself and what it accepts.
public struct ServerConfiguration: Sendable {
    /// Sent in Welcome.
    public var capabilities: Capabilities
    /// How the worker describes itself in Welcome (its listen endpoint).
    public var description: String
    /// Bounds on inbound messages.
    public var limits: WireLimits
    /// The version this worker speaks (another value only in tests of the version check).
    public var protocolVersion: UInt32
    /// Bounds on the heartbeat settings a coordinator may ask for, so that a Hello cannot make
    /// the worker spin (interval too small) or hold a dead session for long (timeout too large:
    /// at most 10 minutes by default, however long the Hello asks, so a peer that says Hello
    /// and falls silent keeps the worker busy for 10 minutes at most; only authentication keeps
    /// such a peer out altogether).
    public var heartbeatBounds: ClosedRange<UInt32>
    /// Listening where other machines reach it without CURVE (`worker --insecure`): every
    /// session is then logged with a warning.
    public var unauthenticated = false

    public init(
        capabilities: Capabilities, description: String, limits: WireLimits = WireLimits(),
        protocolVersion: UInt32 = WireProtocol.version, heartbeatBounds: ClosedRange<UInt32> = 10...600_000, unauthenticated: Bool = false
    ) {
        self.unauthenticated = unauthenticated
        self.capabilities = capabilities
        self.description = description
        self.limits = limits
        self.protocolVersion = protocolVersion
        self.heartbeatBounds = heartbeatBounds
    }
}
