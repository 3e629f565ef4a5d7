import Foundation
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// CURVE key files, in the text format of ZeroMQ's certificates (czmq's `zcert`, ZPL): a public
/// file `NAME.pub` with `public-key = "Z85"` under `curve`, and a secret file `NAME.key` that
/// adds `secret-key = "Z85"` (mode 0600). A file holding only a 40-character Z85 key on a line
/// is read too. Errors name the file, never a secret key.
public enum CurveKeyFiles {
    /// Writes a fresh key pair as `directory/name.key` (mode 0600) and `directory/name.pub`.
    /// - Returns: the two paths and the public key.
    /// - Throws: `ClusterError` (`.configuration`) when either file exists (never overwritten),
    ///   the directory cannot be made, or a file cannot be written.
    public static func generate(in directory: String, name: String) throws(ClusterError) -> (secret: String, public: String, key: String) {
        let keys: CurveKeyPair
        do { keys = try CurveKeyPair.generate() } catch { throw ClusterError(.configuration, error.message) }
        let secretPath = (directory as NSString).appendingPathComponent(name + ".key")
        let publicPath = (directory as NSString).appendingPathComponent(name + ".pub")
        for path in [secretPath, publicPath] where FileManager.default.fileExists(atPath: path) {
            throw ClusterError(.configuration, "\(path) exists: not overwritten (remove it, or give another --name or --out)")
        }
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ClusterError(.configuration, "cannot make \(directory): \(error.localizedDescription)")
        }
        // Plain interpolation: Z85 has '%', which a format string would read as a directive.
        func certificate(_ kind: String, _ advice: String) -> String {
            "#   ZeroMQ CURVE \(kind) Certificate, written by calibrate's keygen\n#   \(advice)\nmetadata\ncurve\n    public-key = \"\(keys.publicKey)\"\n"
        }
        try write(certificate("**Secret**", "Keep this file private.") + "    secret-key = \"\(keys.secretKey)\"\n", to: secretPath, mode: 0o600)
        try write(certificate("Public", "Give this file to the other side."), to: publicPath, mode: 0o644)
        return (secretPath, publicPath, keys.publicKey)
    }

    /// The key pair in the secret file at `path`.
    /// - Throws: `ClusterError` (`.configuration`) naming the file when it cannot be read, holds
    ///   no secret key, or its public key does not belong to its secret key.
    public static func keyPair(at path: String) throws(ClusterError) -> CurveKeyPair {
        let text = try read(path)
        guard let secret = value(of: "secret-key", in: text) ?? bareKey(in: text) else {
            throw ClusterError(.configuration, "\(path): no secret-key = \"…\" (a secret key file of `coordinator keygen`)")
        }
        let keys: CurveKeyPair
        do { keys = try CurveKeyPair(secretKey: secret) } catch { throw ClusterError(.configuration, "\(path): \(error.message)") }
        if let listed = value(of: "public-key", in: text), listed != keys.publicKey {
            throw ClusterError(.configuration, "\(path): its public-key does not belong to its secret-key")
        }
        return keys
    }

    /// The public key in the file at `path` (a `.pub` file, or a secret file: its public key).
    /// - Throws: `ClusterError` (`.configuration`) naming the file.
    public static func publicKey(at path: String) throws(ClusterError) -> String {
        let text = try read(path)
        if value(of: "secret-key", in: text) != nil { return try keyPair(at: path).publicKey }
        guard let key = value(of: "public-key", in: text) ?? bareKey(in: text) else {
            throw ClusterError(.configuration, "\(path): no public-key = \"…\" (a .pub file of `coordinator keygen`)")
        }
        do { try CurveKeyPair.check(key, what: "\(path)") } catch { throw ClusterError(.configuration, error.message) }
        return key
    }

    /// The public keys at `path`: one file, or every `*.pub` file of a directory (at least one).
    /// - Throws: `ClusterError` (`.configuration`) naming the file or directory.
    public static func publicKeys(at path: String) throws(ClusterError) -> Set<String> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ClusterError(.configuration, "\(path): no such file or directory")
        }
        guard isDirectory.boolValue else { return [try publicKey(at: path)] }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw ClusterError(.configuration, "cannot list \(path): \(error.localizedDescription)")
        }
        var keys: Set<String> = []
        for name in names.sorted() where name.hasSuffix(".pub") {
            keys.insert(try publicKey(at: (path as NSString).appendingPathComponent(name)))
        }
        guard !keys.isEmpty else { throw ClusterError(.configuration, "\(path): no .pub files") }
        return keys
    }

    private static func read(_ path: String) throws(ClusterError) -> String {
        guard let data = FileManager.default.contents(atPath: path), data.count < 1 << 16 else {
            throw ClusterError(.configuration, "cannot read the key file \(path)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// `name = "value"` (or unquoted) on a line of `text`.
    private static func value(of name: String, in text: String) -> String? {
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix(name) else { continue }
            let rest = trimmed.dropFirst(name.count).trimmingCharacters(in: .whitespaces)
            guard rest.hasPrefix("=") else { continue }
            return rest.dropFirst().trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return nil
    }

    /// A line that is a 40-character Z85 key and nothing else (it may begin with '#', which is
    /// Z85; a comment has spaces, which Z85 has not).
    private static func bareKey(in text: String) -> String? {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.first { line in
            (try? CurveKeyPair.check(line, what: "key")) != nil
        }
    }

    private static func write(_ text: String, to path: String, mode: mode_t) throws(ClusterError) {
        // Created with its mode (O_EXCL: never over a file that appeared meanwhile), so a secret
        // is never readable by others, not even for a moment.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard descriptor >= 0 else { throw ClusterError(.configuration, "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        guard Glibc.write(descriptor, bytes, bytes.count) == bytes.count, fsync(descriptor) == 0 else {
            throw ClusterError(.configuration, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
