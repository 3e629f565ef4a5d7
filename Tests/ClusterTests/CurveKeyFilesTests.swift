import Cluster
import Foundation
import Testing
import Transport

@Suite("CURVE key files and keys in the hosts file")
struct CurveKeyFilesTests {
    static func directory() -> String { NSTemporaryDirectory() + "calibrate-keys-\(UUID().uuidString)" }

    @Test("keygen writes NAME.key (mode 0600) and NAME.pub that read back as the same pair, and never overwrites them")
    func generate() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let written = try CurveKeyFiles.generate(in: dir, name: "node-1")
        #expect(written.secret == dir + "/node-1.key" && written.public == dir + "/node-1.pub")
        let mode = try FileManager.default.attributesOfItem(atPath: written.secret)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let pair = try CurveKeyFiles.keyPair(at: written.secret)
        #expect(pair.publicKey == written.key)
        #expect(try CurveKeyFiles.publicKey(at: written.public) == written.key)
        #expect(try CurveKeyFiles.publicKey(at: written.secret) == written.key)
        let publicText = try String(contentsOfFile: written.public, encoding: .utf8)
        #expect(!publicText.contains(pair.secretKey) && publicText.contains("public-key = \"\(written.key)\""))
        do {
            _ = try CurveKeyFiles.generate(in: dir, name: "node-1")
            Issue.record("an existing key was overwritten")
        } catch {
            #expect(error.message.contains("node-1.key exists"), "\(error.message)")
        }
        #expect(try CurveKeyFiles.keyPair(at: written.secret) == pair)
        // A directory of .pub files: every key in it. Forty pairs, so that Z85's '%' and '"'-free
        // alphabet is exercised (a format string once mangled keys holding '%').
        var keys: Set<String> = [written.key]
        for index in 0..<40 {
            let more = try CurveKeyFiles.generate(in: dir, name: "node-\(index + 2)")
            #expect(try CurveKeyFiles.keyPair(at: more.secret).publicKey == more.key)
            keys.insert(more.key)
        }
        #expect(try CurveKeyFiles.publicKeys(at: dir) == keys)
    }

    @Test("a key file without a key, with a public key of another pair, or missing is an error naming the file and no secret")
    func badFiles() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let one = try CurveKeyFiles.generate(in: dir, name: "one")
        let other = try CurveKeyPair.generate()
        let mixed = dir + "/mixed.key"
        let secret = try CurveKeyFiles.keyPair(at: one.secret).secretKey
        try "curve\n    public-key = \"\(other.publicKey)\"\n    secret-key = \"\(secret)\"\n".write(toFile: mixed, atomically: true, encoding: .utf8)
        try "nothing here\n".write(toFile: dir + "/empty.pub", atomically: true, encoding: .utf8)
        for (path, expected) in [(mixed, "does not belong"), (dir + "/empty.pub", "no public-key"), (dir + "/none.key", "cannot read")] {
            do {
                _ = path.hasSuffix(".pub") ? try CurveKeyFiles.publicKey(at: path) : try CurveKeyFiles.keyPair(at: path).publicKey
                Issue.record("\(path) was read")
            } catch {
                #expect(error.message.contains(path) && error.message.contains(expected) && !error.message.contains(secret), "\(error.message)")
            }
        }
    }

    @Test("the hosts file gives a worker's public key inline (key=) or from DIR/HOST.pub (keys=, relative to the file); bad keys name the line")
    func hostsFileKeys() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = try CurveKeyFiles.generate(in: dir + "/keys", name: "node-3")
        let inline = try CurveKeyPair.generate().publicKey
        let hosts = dir + "/hosts.txt"
        let endpoints = try HostsFile.parse("node-1:5555 key=\(inline)  # a comment\nnode-3:5555 slots=2 keys=keys\nnode-4:5555\n", path: hosts)
        #expect(endpoints.map(\.serverKey) == [inline, node.key, node.key, nil])
        // Z85 has '#': inside a word it is part of the key, not a comment.
        let hashed = "Bt=#9lGv7(PN-1DW!ySf@]dWCz58))Y0GvlRf48*"
        #expect(try HostsFile.parse("node-1:5555 key=\(hashed) #comment\n", path: hosts).map(\.serverKey) == [hashed])
        for (line, expected) in [("node-1:5555 key=abc", "expected 40 characters"), ("node-9:5555 keys=keys", "node-9.pub"),
                                 ("node-1:5555 key=\(inline) keys=keys", "both key= and keys=")] {
            do {
                _ = try HostsFile.parse(line + "\n", path: hosts)
                Issue.record("\(line) parsed")
            } catch {
                #expect(error.message.contains("\(hosts):1") && error.message.contains(expected), "\(error.message)")
            }
        }
    }
}
