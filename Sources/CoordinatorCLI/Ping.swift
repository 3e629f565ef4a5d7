import ArgumentParser
import Cluster
import Tensors
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// `coordinator ping`: handshake with every worker, print capabilities and round-trip times.
struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the workers: handshake, capabilities, echo round trips.",
        discussion: "Exits with status 1 if a worker could not be reached, refused the handshake, or was lost.")

    @OptionGroup var cluster: WorkerOptions

    @Option(help: "Echo round trips per worker and pass.")
    var rounds = 5

    @Option(help: "Bytes of tensor payload in each echo (0: the envelope only).")
    var payloadBytes = 0

    @Option(help: "Keep pinging for this many seconds (until interrupted); 0: one pass.")
    var duration = 0.0

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard payloadBytes >= 0, duration >= 0 else { throw ValidationError("--payload-bytes and --duration cannot be negative") }
    }

    func run() async throws {
        let log = Log.standardError(label: "coordinator")
        let started = try await WorkerCluster.start(cluster.source, configuration: try cluster.poolConfiguration(), requireAll: false, log: log)
        let work = Task { try await pingLoop(started) }
        ProcessSignals.onTermination { signal in
            log.info("signal \(signal): shutting down")
            work.cancel()
        }
        let lost = (try? await work.value) ?? 0
        await started.shutdown(reason: "ping finished")
        if !started.failures.isEmpty || lost > 0 || started.workers.isEmpty { throw ExitCode(1) }
    }

    /// Prints the workers, then echo round trips until `duration` has passed; returns how many were lost.
    private func pingLoop(_ started: WorkerCluster) async throws -> Int {
        for info in started.workers { emit(PingReport.describe(info)) }
        for failure in started.failures { emit("\(failure.endpoint.source): \(failure.error.message)") }
        let payload = payloadBytes > 0 ? [NamedTensor("payload", try Tensor(dtype: .u8, shape: [payloadBytes], bytes: repeatElement(0x5A, count: payloadBytes)))] : []
        let deadline = ContinuousClock.now + .milliseconds(Int(duration * 1000))
        var lost = Set<WorkerID>()
        repeat {
            for info in started.workers where !lost.contains(info.id) {
                var times: [Duration] = []
                do {
                    for round in 0..<rounds {
                        let start = ContinuousClock.now
                        _ = try await started.pool.request(.echo(Echo(note: "ping \(round)")), tensors: payload, to: info.id)
                        times.append(ContinuousClock.now - start)
                    }
                    emit(PingReport.roundTrips(info, times, payloadBytes: payloadBytes))
                } catch let error as ClusterError {
                    emit("\(info): \(error.message)")
                    lost.insert(info.id)
                }
            }
            if duration > 0 { try await Task.sleep(for: .seconds(1)) }
        } while ContinuousClock.now < deadline && !Task.isCancelled
        return lost.count
    }
}

/// Writes `line` to standard output at once (unbuffered: whoever reads a pipe or a file sees each
/// worker as it is checked, not at exit).
private func emit(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}

/// Lines `coordinator ping` prints.
enum PingReport {
    static func describe(_ info: WorkerInfo) -> String {
        let c = info.capabilities
        let memory = Double(c.memoryBytes) / Double(1 << 30)
        return "\(info.id) \(info.endpoint): host \(c.hostname) pid \(c.pid), \(c.cores) cores, \(fixed(memory, 1)) GiB, "
            + "\(c.deviceKind), \(c.threads) threads; handshake \(fixed(milliseconds(info.handshakeTime), 2)) ms"
    }

    static func roundTrips(_ info: WorkerInfo, _ times: [Duration], payloadBytes: Int) -> String {
        let sorted = times.map(milliseconds).sorted()
        var line = "\(info.id) echo: min \(fixed(sorted[0], 3)) ms, median \(fixed(sorted[sorted.count / 2], 3)) ms, max \(fixed(sorted[sorted.count - 1], 3)) ms over \(times.count)"
        if payloadBytes > 0 {
            line += "; \(payloadBytes) bytes each way, \(fixed(2 * Double(payloadBytes) / (sorted[sorted.count / 2] / 1000) / 1e9, 2)) GB/s"
        }
        return line
    }

    static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1000 + Double(attoseconds) * 1e-15
    }

    static func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        return String((value * scale).rounded() / scale)
    }
}
