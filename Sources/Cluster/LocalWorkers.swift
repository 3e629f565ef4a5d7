import Foundation

/// Worker processes started on this machine (`coordinator --local-workers N`): each listens on
/// its own ipc endpoint, uses `threads` compute threads, and exits by itself if this process
/// dies (`--exit-with-parent`). `stop()` ends them: SIGTERM, then SIGKILL after a grace period.
public final class LocalWorkers: Sendable {
    /// The endpoints to connect to, one per worker.
    public let endpoints: [String]
    /// The workers' process ids, in endpoint order.
    public let processIDs: [Int32]
    private let socketPaths: [String]

    /// Starts `count` worker processes.
    /// - Parameters:
    ///   - executable: the `worker` binary; nil finds it next to this process's executable.
    ///   - threads: compute threads per worker; nil divides this machine's cores among them.
    ///   - extraArguments: more `worker` options (e.g. a log level).
    /// - Throws: `ClusterError` (`.configuration`) when the executable is missing or cannot start;
    ///   workers already started are stopped first.
    public init(count: Int, executable: String? = nil, threads: Int? = nil, extraArguments: [String] = []) throws(ClusterError) {
        precondition(count > 0, "at least one local worker")
        let path = executable ?? LocalWorkers.executableNextToThisOne()
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ClusterError(.configuration, "no worker executable at \(path); build it (swift build --product worker) or pass its path")
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let perWorker = threads ?? max(1, cores / count)
        let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let paths = (0..<count).map { "\(NSTemporaryDirectory())calibrate-worker-\(tag)-\($0).sock" }
        var pids: [Int32] = []
        for socket in paths {
            let arguments = ["--listen", "ipc://\(socket)", "--threads", String(perWorker), "--exit-with-parent"] + extraArguments
            do { pids.append(try ChildProcesses.spawn(path, arguments: arguments)) } catch {
                LocalWorkers.terminate(pids, grace: .seconds(2))
                throw error
            }
        }
        socketPaths = paths
        endpoints = paths.map { "ipc://\($0)" }
        processIDs = pids
    }

    /// `worker` in the directory of this process's executable (`/proc/self/exe`): where SwiftPM
    /// puts every product of a build, tests included.
    public static func executableNextToThisOne() -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("worker").path
    }

    /// Stops every worker: SIGTERM, up to `grace` for them to exit, then SIGKILL; reaps them and
    /// removes their socket files. Safe to call more than once.
    public func stop(grace: Duration = .seconds(5)) {
        LocalWorkers.terminate(processIDs, grace: grace)
        for path in socketPaths { unlink(path) }
    }

    /// Whether every worker process has exited (and been reaped).
    public var allExited: Bool { processIDs.allSatisfy(ChildProcesses.hasExited) }

    private static func terminate(_ pids: [Int32], grace: Duration) {
        for pid in pids { ChildProcesses.signal(pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline && !pids.allSatisfy(ChildProcesses.hasExited) {
            usleep(10_000)
        }
        for pid in pids where !ChildProcesses.hasExited(pid) {
            ChildProcesses.signal(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            _ = ChildProcesses.hasExited(pid)
        }
    }

    deinit { stop(grace: .seconds(1)) }
}
