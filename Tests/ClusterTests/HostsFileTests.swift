import Cluster
import Foundation
import Testing

@Suite("Hosts file")
struct HostsFileTests {
    @Test("addresses, slots, comments and blank lines")
    func valid() throws {
        let text = """
            # calibration workers
            node-1:5555
            node-2:5555   slots=3   # three workers: 5555, 5556, 5557

            tcp://10.0.0.7:7000
            [fe80::1]:6000
            ipc:///tmp/w0.sock
            """
        let endpoints = try HostsFile.parse(text, path: "hosts.txt")
        #expect(endpoints.map(\.endpoint) == [
            "tcp://node-1:5555", "tcp://node-2:5555", "tcp://node-2:5556", "tcp://node-2:5557",
            "tcp://10.0.0.7:7000", "tcp://[fe80::1]:6000", "ipc:///tmp/w0.sock",
        ])
        #expect(endpoints[1].source == "hosts.txt:3")
        #expect(endpoints[6].source == "hosts.txt:7")
    }

    @Test("a bad line is an error naming the file, the line number and the text", arguments: [
        ("node-1", "no port"),
        ("node-1:http", "port"),
        ("node-1:0", "port"),
        ("node-1:65536", "port"),
        ("node-1:5555 slots=0", "slots=N"),
        ("node-1:5555 slots=two", "slots=N"),
        ("node-1:5555 weight=2", "slots=N"),
        ("node-1:65535 slots=2", "past 65535"),
        ("ipc:///tmp/w.sock slots=2", "tcp port"),
        ("fe80::1:5555", "IPv6"),
        (":5555", "host is empty"),
        ("udp://node-1:5555", "tcp:// and ipc://"),
    ])
    func invalid(_ line: String, _ reason: String) {
        let text = "# header\nnode-0:5555\n\(line)\n"
        do {
            _ = try HostsFile.parse(text, path: "hosts.txt")
            Issue.record("\"\(line)\" was accepted")
        } catch {
            #expect(error.code == .configuration)
            #expect(error.message.hasPrefix("hosts.txt:3: "), "\(error.message)")
            #expect(error.message.contains(line), "\(error.message)")
            #expect(error.message.contains(reason), "\(error.message)")
        }
    }

    @Test("duplicates name both lines; a file without workers is an error")
    func duplicatesAndEmpty() {
        #expect(throws: ClusterError.self) { try HostsFile.parse("# nothing\n\n", path: "h") }
        do {
            _ = try HostsFile.parse("a:5555 slots=2\na:5556\n", path: "h")
            Issue.record("a duplicate was accepted")
        } catch {
            #expect(error.message == "h:2: tcp://a:5556 is already listed at h:1")
        }
    }

    @Test("a missing file is an error naming it")
    func missingFile() {
        do {
            _ = try HostsFile.load(path: "/nonexistent/hosts.txt")
            Issue.record("a missing file was read")
        } catch {
            #expect(error.message.contains("/nonexistent/hosts.txt"))
        }
    }

    @Test("a watched hosts file is read again when its contents change or a re-read is asked for, and a bad edit is an error naming it")
    func watch() throws {
        let path = NSTemporaryDirectory() + "calibrate-watch-\(UUID().uuidString).txt"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "a:5555\n".write(toFile: path, atomically: true, encoding: .utf8)
        let watch = HostsFileWatch(path: path)
        #expect(watch.poll() == nil)
        // The same size and, within a second, possibly the same modification time: the contents differ.
        try "b:5555\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try watch.poll()?.get().map(\.endpoint) == ["tcp://b:5555"])
        #expect(watch.poll() == nil)
        watch.requestReread()
        #expect(try watch.poll()?.get().map(\.endpoint) == ["tcp://b:5555"])
        #expect(watch.poll() == nil)
        try "b:5555\nc:x\n".write(toFile: path, atomically: true, encoding: .utf8)
        guard case .failure(let error)? = watch.poll() else {
            Issue.record("a bad line was accepted")
            return
        }
        #expect(error.message.contains(path + ":2"), "\(error.message)")
        try FileManager.default.removeItem(atPath: path)
        guard case .failure(let missing)? = watch.poll() else {
            Issue.record("a removed file was read")
            return
        }
        #expect(missing.message.contains(path))
    }
}
