/// A transport operation that failed: an endpoint that cannot be bound or reached, a peer that
/// is unknown, or a closed transport.
public struct TransportError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What failed, naming the endpoint or peer.
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
