import CZMQ

/// A CURVE key pair (ZeroMQ's CurveZMQ: Curve25519 keys, Z85 text of 40 characters each).
/// Workers are CURVE servers, coordinators CURVE clients; each side proves it holds the secret
/// key whose public key the other expects (docs/ARCHITECTURE.md, "Authentication").
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    /// A fresh key pair from libzmq (`zmq_curve_keypair`, libsodium's randomness).
    /// - Throws: `TransportError` when libzmq was built without CURVE.
    public static func generate() throws(TransportError) -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else {
            throw TransportError("cannot make a CURVE key pair: \(zmqLastError().text) (is libzmq built with CURVE?)")
        }
        return CurveKeyPair(publicKey: String(cString: publicText), secretKey: String(cString: secretText))
    }

    /// The pair of `secretKey`, its public key derived from it (`zmq_curve_public`).
    /// - Throws: `TransportError` when `secretKey` is not 40 characters of Z85.
    public init(secretKey: String) throws(TransportError) {
        try Self.check(secretKey, what: "secret key")
        var publicText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicText, secretKey) == 0 else {
            throw TransportError("cannot derive the public key: \(zmqLastError().text)")
        }
        self.init(publicKey: String(cString: publicText), secretKey: secretKey)
    }

    private init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Z85's alphabet (ZeroMQ RFC 32).
    static let z85 = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")

    /// Checks that `key` is a Z85 key: 40 characters of the Z85 alphabet.
    /// - Throws: `TransportError` naming `what` and what is wrong (never the key itself, which may be secret).
    public static func check(_ key: String, what: String) throws(TransportError) {
        guard key.count == 40 else { throw TransportError("\(what): expected 40 characters of Z85, found \(key.count)") }
        guard key.allSatisfy(z85.contains) else { throw TransportError("\(what): a character outside Z85's alphabet") }
    }

    /// The Z85 text of a 32-byte binary key (a ZAP request's credentials).
    static func z85(of key: [UInt8]) -> String? {
        guard key.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&text, key, key.count) != nil else { return nil }
        return String(cString: text)
    }
}

/// What a `ZMQTransport` does with CURVE: its own key pair (a listener is then a CURVE server;
/// a connection given a server key is a CURVE client) and the client keys its listeners admit.
public struct CurveSettings: Sendable {
    public var keys: CurveKeyPair
    /// Public keys of the clients a listener admits (checked by the transport's ZAP handler
    /// before any message reaches the layer above); nil: a listener is not a CURVE server.
    public var allowedClients: Set<String>?

    public init(keys: CurveKeyPair, allowedClients: Set<String>? = nil) {
        self.keys = keys
        self.allowedClients = allowedClients
    }
}
