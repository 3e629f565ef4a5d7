import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// SIGINT/SIGTERM handling for the executables: the first signal starts a clean shutdown, a
/// second one exits at once — after killing this process's children, so that none is orphaned.
public enum ProcessSignals {
    /// Keeps a signal source alive. `@unchecked Sendable`: the source is configured and resumed
    /// before it is boxed, and only retained afterwards.
    private final class Retained: @unchecked Sendable {
        let source: any DispatchSourceSignal
        init(_ source: any DispatchSourceSignal) { self.source = source }
    }

    private static let sources = Mutex<[Retained]>([])
    private static let received = Mutex(0)
    /// The queue signal handlers run on: a serial queue of its own, which Dispatch serves with a
    /// thread of its own when every thread of the global pool is busy (compute on
    /// `concurrentPerform` held the global queue for seconds under load, and a SIGTERM waited).
    private static let queue = DispatchQueue(label: "calibrate.signals")

    /// Calls `handler` with the signal number on the first SIGINT or SIGTERM (on a Dispatch
    /// queue, not in a signal handler). A second signal kills every child (`ChildProcesses`) and
    /// exits with status 128 + signal.
    public static func onTermination(_ handler: @escaping @Sendable (Int32) -> Void) {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                let count = received.withLock { count in
                    count += 1
                    return count
                }
                if count == 1 {
                    handler(number)
                } else {
                    ChildProcesses.killAll()
                    _exit(128 + number)
                }
            }
            source.resume()
            let retained = Retained(source)
            sources.withLock { $0.append(retained) }
        }
    }

    /// Calls `handler` on every SIGHUP (on a Dispatch queue): how the coordinator is told to
    /// re-read its hosts file.
    public static func onHangup(_ handler: @escaping @Sendable () -> Void) {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        source.setEventHandler { handler() }
        source.resume()
        let retained = Retained(source)
        sources.withLock { $0.append(retained) }
    }

    /// Calls `handler` once this process's parent has exited (its parent process id changes),
    /// checking every `interval`: how a local worker follows a coordinator that was killed
    /// without a chance to stop it.
    public static func onParentExit(every interval: Duration = .milliseconds(500), _ handler: @escaping @Sendable () -> Void) {
        let parent = getppid()
        Task.detached {
            while getppid() == parent {
                try? await Task.sleep(for: interval)
            }
            handler()
        }
    }
}
