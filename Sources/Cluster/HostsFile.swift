import Foundation

/// A worker to connect to, and where it was listed.
public struct WorkerEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// A ZeroMQ endpoint, e.g. `tcp://node-3:5555` or `ipc:///tmp/w0.sock`.
    public let endpoint: String
    /// Where it came from, e.g. `hosts.txt:3`.
    public let source: String

    public init(endpoint: String, source: String) {
        self.endpoint = endpoint
        self.source = source
    }

    public var description: String { endpoint }
}

/// The hosts file: the workers a coordinator connects to.
///
/// One worker address per line: `host:port`, `[ipv6]:port`, `tcp://host:port` or `ipc:///path`,
/// optionally followed by `slots=N`: N workers on that host, listening on port, port + 1, …,
/// port + N − 1 (as `worker@5555`, `worker@5556`… of deploy/systemd). `#` starts a comment;
/// blank lines are skipped. A line that does not parse is an error naming its number and text.
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
            let content = rawLine.prefix { $0 != "#" }.trimmingCharacters(in: .whitespacesAndNewlines)
            if content.isEmpty { continue }
            for endpoint in try parseLine(content, source: source, original: String(rawLine)) {
                if let first = seen[endpoint] {
                    throw ClusterError(.configuration, "\(source): \(endpoint) is already listed at \(first)")
                }
                seen[endpoint] = source
                endpoints.append(WorkerEndpoint(endpoint: endpoint, source: source))
            }
        }
        guard !endpoints.isEmpty else { throw ClusterError(.configuration, "\(path) lists no workers") }
        return endpoints
    }

    private static func parseLine(_ content: String, source: String, original: String) throws(ClusterError) -> [String] {
        let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        func failure(_ why: String) -> ClusterError {
            ClusterError(.configuration, "\(source): \(why) in \"\(original.trimmingCharacters(in: .whitespaces))\"; expected host:port [slots=N]")
        }
        var slots = 1
        for option in fields.dropFirst() {
            guard option.hasPrefix("slots="), let value = Int(option.dropFirst(6)), (1...1024).contains(value) else {
                throw failure("\"\(option)\" is not slots=N with N from 1 to 1024")
            }
            slots = value
        }
        let address = fields[0]
        if address.hasPrefix("ipc://") {
            guard address.count > 6 else { throw failure("an ipc address needs a path") }
            guard slots == 1 else { throw failure("slots need a tcp port to count from") }
            return [address]
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
        return (0..<slots).map { "tcp://\(host):\(port + $0)" }
    }
}
