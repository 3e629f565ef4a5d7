import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Child processes this process started, so that every exit path — a clean stop, a signal, a
/// forced exit — can take them down with it.
public enum ChildProcesses {
    private static let running = Mutex<Set<pid_t>>([])

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc
    /// module does not declare; nil where the C library lacks it.
    private static let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Starts `executable` with `arguments` (argv[0] is the executable), inheriting the
    /// environment, with SIGINT, SIGTERM and SIGPIPE reset to their defaults
    /// and no signal blocked (this process may ignore or block them), and no descriptor of this
    /// process but the standard three (where the C library can close the rest: glibc 2.34+).
    /// - Parameters:
    ///   - standardOutput: a file to append the child's standard output to (nil: inherit this process's).
    ///   - standardError: the same for standard error.
    /// - Returns: the child's process id.
    /// - Throws: `ClusterError` (`.configuration`) naming the executable and the errno text.
    public static func spawn(_ executable: String, arguments: [String], standardOutput: String? = nil, standardError: String? = nil) throws(ClusterError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (descriptor, path) in [(Int32(1), standardOutput), (2, standardError)] {
            if let path { posix_spawn_file_actions_addopen(&actions, descriptor, path, O_WRONLY | O_CREAT | O_APPEND, 0o644) }
        }
        // Nothing else of this process's is inherited: a pipe the child held open would keep
        // whoever reads its other end (a test runner, a shell's `$(...)`) waiting for the
        // child rather than for this process.
        if let closeFrom = closeFrom { _ = closeFrom(&actions, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let status = running.withLock { children -> Int32 in
            let status = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
            if status == 0 { children.insert(pid) }
            return status
        }
        guard status == 0 else {
            throw ClusterError(.configuration, "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        return pid
    }

    /// Whether `pid` has exited; reaps it if so (`waitpid` with `WNOHANG`).
    public static func hasExited(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid || (result < 0 && errno == ECHILD) else { return false }
        _ = running.withLock { $0.remove(pid) }
        return true
    }

    /// Sends `signal` to `pid` if it is still one of ours.
    public static func signal(_ pid: pid_t, _ signal: Int32) {
        running.withLock { children in
            if children.contains(pid) { kill(pid, signal) }
        }
    }

    /// Kills (SIGKILL) and reaps every child still running: the last resort of a forced exit.
    public static func killAll() {
        let children = running.withLock { children in
            defer { children.removeAll() }
            return children
        }
        for pid in children {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
    }
}
