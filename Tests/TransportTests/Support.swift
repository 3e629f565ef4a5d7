import Tensors
import Transport

/// Collects a transport's inbound messages so that tests can wait for the next one with a timeout.
actor Mailbox {
    private var messages: [Inbound] = []
    private var waiter: CheckedContinuation<Void, Never>?
    private var finished = false

    init(_ transport: any Transport) {
        let stream = transport.inbound
        Task { [weak self] in
            for await message in stream { await self?.append(message) }
            await self?.finish()
        }
    }

    private func append(_ message: Inbound) {
        messages.append(message)
        waiter?.resume()
        waiter = nil
    }

    private func finish() {
        finished = true
        waiter?.resume()
        waiter = nil
    }

    /// The next message, or nil when none arrives within `timeout` seconds (or the stream ended).
    func next(timeout: Double = 10) async -> Inbound? {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while messages.isEmpty && !finished && ContinuousClock.now < deadline {
            // Poll in short sleeps rather than racing a continuation against a timer.
            try? await Task.sleep(for: .milliseconds(2))
        }
        return messages.isEmpty ? nil : messages.removeFirst()
    }

    /// Whether the inbound stream has finished (waiting up to a second for it to).
    var isFinished: Bool {
        get async {
            for _ in 0..<500 where !finished { try? await Task.sleep(for: .milliseconds(2)) }
            return finished
        }
    }
}

/// Storage of `count` bytes, byte i = (i * 7 + seed) mod 251.
func patterned(_ count: Int, seed: Int = 0) -> TensorStorage {
    TensorStorage(count: count) { buffer in
        for i in 0..<count { buffer[i] = UInt8((i &* 7 &+ seed) % 251) }
    }
}

/// Whether two storages hold the same bytes.
func same(_ a: TensorStorage, _ b: TensorStorage) -> Bool {
    withExtendedLifetime((a, b)) {
        a.bytes.count == b.bytes.count && (a.bytes.count == 0 || memcmp(a.bytes.baseAddress!, b.bytes.baseAddress!, a.bytes.count) == 0)
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Sends a small message from `client` over `peer` and has `server` admit the peer it arrives
/// from (as a worker admits its coordinator at Hello), so that chunked messages follow.
func introduce(_ peer: PeerID, of client: any Transport, to server: any Transport, _ mailbox: Mailbox) async throws {
    try client.send([patterned(2, seed: 104)], to: peer)
    guard let hello = await mailbox.next(timeout: 30) else { throw IntroductionFailed() }
    server.admit(hello.peer)
}

struct IntroductionFailed: Error {}
