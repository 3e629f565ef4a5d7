import Checkpoint
import Foundation
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    /// FIPS 180-4 examples (NIST CSRC "SHA256.pdf") and the empty string.
    @Test("standard test vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func vectors(text: String, digest: String) {
        var hasher = SHA256()
        hasher.update(Array(text.utf8))
        #expect(hasher.finalize() == digest)
    }

    @Test("a million 'a's fed in uneven pieces")
    func millionA() {
        var hasher = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 997)
        var fed = 0
        while fed < 1_000_000 {
            let take = min(chunk.count - fed % 3, 1_000_000 - fed)
            hasher.update(Array(chunk[0..<take]))
            fed += take
        }
        #expect(hasher.finalize() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("a file's digest matches hashing its bytes")
    func file() throws {
        let path = NSTemporaryDirectory() + "sha-\(UUID().uuidString)"
        let bytes = (0..<5000).map { UInt8($0 % 251) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var hasher = SHA256()
        hasher.update(bytes)
        #expect(try SHA256.hexDigest(ofFile: path) == hasher.finalize())
    }
}
