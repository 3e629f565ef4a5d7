import Transport
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// How a `WorkerPool` talks to its workers.
public struct PoolConfiguration: Sendable {
    /// How often each side sends a heartbeat.
    public var heartbeatInterval: Duration
    /// Silence after which a worker is declared lost (and a worker ends its session).
    public var heartbeatTimeout: Duration
    /// How long a handshake may take, including a local worker process's start.
    public var handshakeTimeout: Duration
    /// Bounds on inbound messages.
    public var limits: WireLimits
    /// The version this side speaks (another value only in tests of the version check).
    public var protocolVersion: UInt32
    /// How this coordinator introduces itself in Hello.
    public var name: String
    /// This coordinator's CURVE key pair, for workers listed with a key (nil: plain connections only).
    public var keys: CurveKeyPair?

    public init(
        heartbeatInterval: Duration = .seconds(1), heartbeatTimeout: Duration = .seconds(10),
        handshakeTimeout: Duration = .seconds(30), limits: WireLimits = WireLimits(),
        protocolVersion: UInt32 = WireProtocol.version, name: String = PoolConfiguration.defaultName(), keys: CurveKeyPair? = nil
    ) {
        self.keys = keys
        self.heartbeatInterval = heartbeatInterval
        self.heartbeatTimeout = heartbeatTimeout
        self.handshakeTimeout = handshakeTimeout
        self.limits = limits
        self.protocolVersion = protocolVersion
        self.name = name
    }

    /// "coordinator@<host> pid <pid>".
    public static func defaultName() -> String {
        let capabilities = Capabilities.local(threads: 0)
        return "coordinator@\(capabilities.hostname) pid \(capabilities.pid)"
    }

    /// Checks that the interval is positive and below the timeout.
    /// - Throws: `ClusterError` (`.configuration`) naming both values.
    public func validate() throws(ClusterError) {
        guard heartbeatInterval > .zero, heartbeatTimeout >= heartbeatInterval * 2 else {
            throw ClusterError(.configuration, "heartbeat interval \(heartbeatInterval) and timeout \(heartbeatTimeout): expected an interval above zero and a timeout of at least two intervals")
        }
    }
}

extension Duration {
    /// Whole milliseconds, clamped to UInt32 (as heartbeat settings travel).
    var milliseconds: UInt32 {
        let (seconds, attoseconds) = components
        let value = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return UInt32(clamping: value)
    }

    /// Seconds as a Double, for messages.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
