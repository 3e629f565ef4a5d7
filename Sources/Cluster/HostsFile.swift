import Foundation
import Transport

/// A worker to connect to, and where it was listed.
public struct WorkerEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// A ZeroMQ endpoint, e.g. `tcp://node-3:5555` or `ipc:///tmp/w0.sock`.
    public let endpoint: String
    /// Where it came from, e.g. `hosts.txt:3`.
    public let source: String
    /// The worker's CURVE public key (Z85): the connection is then authenticated both ways and
    /// encrypted, and only a worker holding the matching secret key completes it.
    public let serverKey: String?

    public init(endpoint: String, source: String, serverKey: String? = nil) {
        self.endpoint = endpoint
        self.source = source
        self.serverKey = serverKey
    }

    public var description: String { endpoint }
}

/// The hosts file: the workers a coordinator connects to.
///
/// One worker address per line: `host:port`, `[ipv6]:port`, `tcp://host:port` or `ipc:///path`,
/// optionally followed by `slots=N`: N workers on that host, listening on port, port + 1, …,
/// port + N − 1 (as `worker@5555`, `worker@5556`… of deploy/systemd), and by the worker's CURVE
/// public key: `key=Z85` (40 characters), or `keys=DIR` for `DIR/HOST.pub` (DIR relative to the
/// hosts file). `#` at the start of a line or a word starts a comment; blank lines are skipped. A line that does not parse is an
/// error naming its number and text.
public enum HostsFile {
    /// Reads and parses the hosts file at `path`.
    /// - Throws: `ClusterError` (`.configuration`) when the file cannot be read or a line is invalid.
    public static func load(path: String) throws(ClusterError) -> [WorkerEndpoint] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ClusterError(.configuration, "cannot read the hosts file \(path): \(error.localizedDescription)")
        }
        return try parse(text, path: path)
    }

    /// Parses hosts-file `text`; `path` names it in errors.
    /// - Throws: `ClusterError` (`.configuration`) naming `path:line`, the line's text and what was expected.
    public static func parse(_ text: String, path: String) throws(ClusterError) -> [WorkerEndpoint] {
        var endpoints: [WorkerEndpoint] = []
        var seen: [String: String] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let source = "\(path):\(index + 1)"
            let content = Self.withoutComment(rawLine).trimmingCharacters(in: .whitespacesAndNewlines)
            if content.isEmpty { continue }
            let (addresses, key) = try parseLine(content, source: source, original: String(rawLine), path: path)
            for endpoint in addresses {
                if let first = seen[endpoint] {
                    throw ClusterError(.configuration, "\(source): \(endpoint) is already listed at \(first)")
                }
                seen[endpoint] = source
                endpoints.append(WorkerEndpoint(endpoint: endpoint, source: source, serverKey: key))
            }
        }
        guard !endpoints.isEmpty else { throw ClusterError(.configuration, "\(path) lists no workers") }
        return endpoints
    }

    /// `line` up to its comment: a `#` at the start of the line or of a word (Z85 keys hold `#`
    /// inside theirs, as in `key=ab#c…`).
    static func withoutComment(_ line: Substring) -> Substring {
        var previous: Character = " "
        for index in line.indices {
            if line[index] == "#", previous == " " || previous == "\t" { return line[..<index] }
            previous = line[index]
        }
        return line
    }

    private static func parseLine(_ content: String, source: String, original: String, path: String) throws(ClusterError) -> (addresses: [String], key: String?) {
        let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        func failure(_ why: String) -> ClusterError {
            ClusterError(.configuration, "\(source): \(why) in \"\(original.trimmingCharacters(in: .whitespaces))\"; expected host:port [slots=N] [key=Z85 | keys=DIR]")
        }
        var slots = 1
        var key: String?
        var keyDirectory: String?
        for option in fields.dropFirst() {
            if option.hasPrefix("key=") {
                let value = String(option.dropFirst(4))
                do { try CurveKeyPair.check(value, what: "key=") } catch { throw failure(error.message) }
                key = value
            } else if option.hasPrefix("keys="), option.count > 5 {
                keyDirectory = String(option.dropFirst(5))
            } else {
                guard option.hasPrefix("slots="), let value = Int(option.dropFirst(6)), (1...1024).contains(value) else {
                    throw failure("\"\(option)\" is not slots=N with N from 1 to 1024, key=Z85 or keys=DIR")
                }
                slots = value
            }
        }
        guard key == nil || keyDirectory == nil else { throw failure("both key= and keys=") }
        let address = fields[0]
        if address.hasPrefix("ipc://") {
            guard address.count > 6 else { throw failure("an ipc address needs a path") }
            guard slots == 1 else { throw failure("slots need a tcp port to count from") }
            guard keyDirectory == nil else { throw failure("keys=DIR needs a host name (DIR/HOST.pub); give key=Z85") }
            return ([address], key)
        }
        let hostPort = address.hasPrefix("tcp://") ? String(address.dropFirst(6)) : address
        guard !hostPort.contains("://") else { throw failure("only tcp:// and ipc:// addresses are supported") }
        guard let colon = hostPort.lastIndex(of: ":") else { throw failure("no port") }
        let host = String(hostPort[..<colon])
        guard let port = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(port) else {
            throw failure("the port is not a number from 1 to 65535")
        }
        let isBracketedIPv6 = host.hasPrefix("[") && host.hasSuffix("]") && host.count > 2
        guard !host.isEmpty, isBracketedIPv6 || !host.contains(":") else {
            throw failure("the host is empty, or an IPv6 address without [brackets]")
        }
        guard port + slots - 1 <= 65535 else { throw failure("slots=\(slots) from port \(port) runs past 65535") }
        if let keyDirectory {
            // URL rather than NSString: Foundation's deletingLastPathComponent traps on a bare
            // file name on Linux (Swift 6.3).
            let base = keyDirectory.hasPrefix("/") ? URL(fileURLWithPath: keyDirectory)
                : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(keyDirectory)
            let file = base.appendingPathComponent(host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")) + ".pub").path
            do { key = try CurveKeyFiles.publicKey(at: file) } catch { throw failure(error.message) }
        }
        return ((0..<slots).map { "tcp://\(host):\(port + $0)" }, key)
    }
}
