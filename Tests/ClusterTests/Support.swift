import Cluster
import JobProtocol
import Model
import Synchronization
import Tensors
import Transport
import Wire
import TestSupport

/// Log lines captured for assertions.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])

    var log: Log {
        Log(label: "test", minimumLevel: .debug) { [self] level, line in
            lines.withLock { $0.append("\(level): \(line)") }
        }
    }

    var all: [String] { lines.withLock { $0 } }

    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }
}

/// A handler that records what it saw, on top of the diagnostic handler's answers.
final class RecordingHandler: WorkerHandler {
    private let state = Mutex<(requests: [MessageType], endings: [String])>(([], []))
    private let inner = DiagnosticHandler()

    func handle(_ request: Message) async throws -> HandlerReply {
        state.withLock { $0.requests.append(request.type) }
        return try await inner.handle(request)
    }

    func sessionEnded(reason: String) async {
        state.withLock { $0.endings.append(reason) }
    }

    var requests: [MessageType] { state.withLock { $0.requests } }
    var endings: [String] { state.withLock { $0.endings } }
}

/// Collects a stream's elements so that tests can wait for one matching a condition.
actor Collector<Element: Sendable> {
    private var items: [Element] = []

    init(_ stream: AsyncStream<Element>) {
        Task { [weak self] in
            for await item in stream { await self?.append(item) }
        }
    }

    private func append(_ item: Element) { items.append(item) }

    /// The first element satisfying `condition`, waiting up to `timeout` seconds.
    func first(timeout: Double = 10, where condition: @Sendable (Element) -> Bool) async -> Element? {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < deadline {
            if let match = items.first(where: condition) { return match }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return items.first(where: condition)
    }

    var all: [Element] { items }
}

/// A pool configuration with short heartbeats, for tests. The default timeout leaves room for a
/// machine busy with parallel tests; tests of the timeout itself pass a shorter one.
func fastPool(interval: Int = 50, timeout: Int = 2000, version: UInt32 = WireProtocol.version) -> PoolConfiguration {
    PoolConfiguration(
        heartbeatInterval: .milliseconds(interval), heartbeatTimeout: .milliseconds(timeout), handshakeTimeout: .seconds(10),
        protocolVersion: version, name: "test coordinator")
}

/// The job request that starts job `jobID` on `sequences` (no model: the diagnostic handler
/// computes nothing).
func start(_ jobID: String, sequences: [[Int32]] = []) -> Body {
    .request(.start(WorkerJob(jobID: jobID, modelPath: "", configJSON: [], sequences: sequences, firstSample: 0, threads: 1), embeddings: nil))
}

/// A float32 tensor holding `values`.
func floats(_ values: [Float]) -> Tensor {
    Tensor(floats: values, shape: [values.count])
}

/// Valid messages of every type a coordinator or a worker sends, then mutated at random: what the
/// fuzz tests throw at both sides.
enum Garbage {
    static let seeds: [Message] = [
        Message(.hello(Hello(coordinator: "x", heartbeatIntervalMilliseconds: 10, heartbeatTimeoutMilliseconds: 40))),
        Message(.echo(Echo(note: "n")), tensors: [NamedTensor("t", floats([1, 2, 3]))]),
        Message(.request(.loadLayer(index: 2, weights: ["w": floats([1, 2])])), jobID: "job", taskID: 4, attempt: 1),
        Message(.reply(.applied(layer: 1, stage: .gateUp)), jobID: "job", taskID: 4),
        Message(start("job", sequences: [[1, 2, 3]]), jobID: "job", taskID: 5),
        Message(.welcome(Welcome(capabilities: .local(threads: 1), worker: "w"))),
        Message(.heartbeat(Heartbeat(sequence: 3))),
    ]

    /// The frames of a random seed message with its envelope mutated (bit flips, truncation,
    /// insertion, random bytes), or a frame count changed.
    static func frames(_ generator: inout SplitMix64) -> [TensorStorage] {
        var frames = WireCodec.encode(seeds[Int(generator.next() % UInt64(seeds.count))])
        var envelope = withExtendedLifetime(frames[0]) { Array(frames[0].bytes) }
        switch generator.next() % 5 {
        case 0:
            for _ in 0...(generator.next() % 4) {
                envelope[Int(generator.next() % UInt64(envelope.count))] ^= UInt8(1 << (generator.next() % 8))
            }
        case 1:
            envelope = Array(envelope.prefix(Int(generator.next() % UInt64(envelope.count))))
        case 2:
            let at = Int(generator.next() % UInt64(envelope.count + 1))
            envelope.insert(contentsOf: (0..<(1 + generator.next() % 8)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }, at: at)
        case 3:
            envelope = (0..<(generator.next() % 64)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        default:
            if frames.count > 1 { frames.removeLast() } else { frames.append(frames[0]) }
        }
        frames[0] = envelope.withUnsafeBytes { TensorStorage(copying: $0) }
        return frames
    }
}
