#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a new detached POSIX thread: for loops that block (zmq_poll), which must not
/// occupy a thread of Swift's cooperative pool.
func startDedicatedThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let status = pthread_create(&thread, nil, { context in
        let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
        box.body()
        return nil
    }, context)
    precondition(status == 0, "pthread_create failed with \(status)")
    pthread_detach(thread)
}
