import Cluster
import Foundation
import Testing

/// Built executables and processes started from them, for tests over real processes.
enum Binaries {
    /// The build directory SwiftPM put this test bundle in, which holds every product.
    static let directory = URL(fileURLWithPath: LocalWorkers.executableNextToThisOne()).deletingLastPathComponent().path
    static let worker = directory + "/worker"
    static let coordinator = directory + "/coordinator"

    /// Fails the test unless `path` exists (`swift build` builds every product; `swift test` too).
    static func require(_ path: String) throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("no executable at \(path): run swift build first")
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A process started for a test, with its output in files.
final class TestProcess: Sendable {
    let pid: Int32
    let standardOutput: String
    let standardError: String

    init(_ executable: String, _ arguments: [String]) throws {
        try Binaries.require(executable)
        let base = NSTemporaryDirectory() + "calibrate-test-\(UUID().uuidString)"
        standardOutput = base + ".out"
        standardError = base + ".err"
        pid = try ChildProcesses.spawn(executable, arguments: arguments, standardOutput: standardOutput, standardError: standardError)
    }

    /// A worker listening on `listen` (tcp port 0 by default), once it has said where it listens.
    /// It runs the diagnostic handler (sum, echo, fail, sleep) unless `diagnostic` is false: most
    /// of these tests are about sessions and transport, not calibration. It exits when this
    /// process does.
    static func worker(listen: String = "tcp://127.0.0.1:0", diagnostic: Bool = true, _ extra: [String] = []) async throws -> (TestProcess, endpoint: String) {
        // `--exit-with-parent`: a test that fails before its cleanup leaves no worker behind.
        let process = try TestProcess(Binaries.worker, ["--listen", listen, "--threads", "1", "--exit-with-parent"] + (diagnostic ? ["--diagnostic"] : []) + extra)
        guard let line = await process.waitForLine(containing: "listening on ", in: \.errors) else {
            process.kill(SIGKILL)
            throw TestFailure("the worker did not start: \(process.errors)")
        }
        let endpoint = String(line.split(separator: " ").first { $0.hasPrefix("tcp://") || $0.hasPrefix("ipc://") } ?? "")
        return (process, endpoint)
    }

    var output: String { (try? String(contentsOfFile: standardOutput, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOfFile: standardError, encoding: .utf8)) ?? "" }

    /// The first line of the output or errors containing `text`, waiting up to `timeout` seconds.
    func waitForLine(containing text: String, in stream: KeyPath<TestProcess, String> = \.output, timeout: Double = 20) async -> String? {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < deadline {
            if let line = self[keyPath: stream].split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    func kill(_ signal: Int32) { ChildProcesses.signal(pid, signal) }

    /// Waits up to `timeout` seconds for the process to exit; true if it did.
    func waitForExit(timeout: Double = 10) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < deadline {
            if ChildProcesses.hasExited(pid) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return ChildProcesses.hasExited(pid)
    }

    /// Stops the process (SIGTERM, then SIGKILL) and removes its output files.
    func stop() async {
        kill(SIGTERM)
        if !(await waitForExit(timeout: 5)) {
            kill(SIGKILL)
            _ = await waitForExit()
        }
        try? FileManager.default.removeItem(atPath: standardOutput)
        try? FileManager.default.removeItem(atPath: standardError)
    }
}

/// Whether a process that is not our child has gone: no such process, or a zombie waiting for
/// a reaper that this container's init may never be.
func processIsGone(_ pid: Int32) -> Bool {
    if Glibc.kill(pid, 0) != 0 && errno == ESRCH { return true }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return true }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return fields.first == "Z" || fields.first == "X"
}

#if canImport(Glibc)
import Glibc
#endif
