import ArgumentParser
import Cluster
import Tensors
import Transport
import Wire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Round trips of tensor payloads through the wire: a worker echoes what the coordinator sends.
///
/// Three references, measured in the same run: memcpy of the payload, XXH64 of it (each message
/// is hashed by its sender once and verified by its receiver), and the bare transport (frames
/// echoed without an envelope, decoding or checksums, in this process), over tcp also with CURVE
/// (its cost: authentication once, encryption of every frame). The wire echo goes
/// through a `worker` process (or, without one next to this executable, a worker server in this
/// process on its own ZeroMQ context), over tcp loopback and ipc. Messages larger than the chunk
/// size (`--chunk-bytes`, the transport's default unless given) travel in chunks and are
/// reassembled with one copy of each large frame; `--chunk-bytes` above the payload measures
/// whole messages.
struct WireBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wire",
        abstract: "Round-trip latency and throughput of 1 MiB, 64 MiB and 1 GiB tensors over tcp and ipc, next to memcpy.")

    @Option(help: "Payload sizes in MiB.")
    var sizes: [Int] = [1, 64, 1024]

    @Option(help: "Round trips per size (the largest size gets a third of them, at least 2).")
    var repetitions = 10

    @Flag(help: "Serve echoes from this process even if a worker executable is available.")
    var inProcess = false

    @Option(help: "Chunk size of every transport (and the worker's), in bytes: messages larger than this travel in chunks.")
    var chunkBytes = ZMQTransport.Configuration().chunkBytes

    func validate() throws {
        guard chunkBytes > 0 else { throw ValidationError("--chunk-bytes must be positive, found \(chunkBytes)") }
    }

    /// A ZeroMQ transport with this run's chunk size (and CURVE settings).
    private func transport(curve: CurveSettings? = nil) throws -> ZMQTransport {
        try ZMQTransport(configuration: .init(chunkBytes: chunkBytes, curve: curve))
    }

    func run() async throws {
        let worker = LocalWorkers.executableNextToThisOne()
        let useProcess = !inProcess && access(worker, X_OK) == 0
        print("wire round trips: payload out and back (GB/s counts both directions), fastest and median of \(repetitions)")
        print("echo server: \(useProcess ? "worker process \(worker)" : "worker server in this process (separate ZeroMQ context)"); libzmq \(zmqVersion()); chunks of \(chunkBytes) bytes")
        for mebibytes in sizes {
            let bytes = mebibytes << 20
            let rounds = mebibytes >= 1024 ? max(2, repetitions / 3) : repetitions
            let storage = TensorStorage(count: bytes) { buffer in
                let values = buffer.bindMemory(to: Float.self)
                for i in values.indices { values[i] = Float(i % 4093) }
            }
            let payload = try Tensor(dtype: .f32, shape: [bytes / 4], storage: storage)
            print("\n\(mebibytes) MiB")
            let copy = referenceCopy(payload, rounds: rounds)
            report("memcpy (reference)", bytes: 2 * bytes, seconds: copy.map { 2 * $0 }, reference: 2 * copy.min()!)
            let hashSeconds = timeHash(payload, rounds: rounds)
            report("XXH64 of the payload (2 per message)", bytes: bytes, seconds: hashSeconds, reference: copy.min()!)
            for endpoint in ["tcp://127.0.0.1:0", "ipc:///tmp/calibrate-bench-\(getpid()).sock"] {
                let kind = endpoint.hasPrefix("tcp") ? "tcp loopback" : "ipc"
                let raw = try await rawEcho(payload, endpoint: endpoint, rounds: rounds)
                report("\(kind), bare transport", bytes: 2 * bytes, seconds: raw, reference: 2 * copy.min()!)
                if kind == "tcp loopback" {
                    let curve = try await rawEcho(payload, endpoint: endpoint, rounds: rounds, curve: true)
                    report("\(kind), bare transport, CURVE", bytes: 2 * bytes, seconds: curve, reference: 2 * copy.min()!)
                    print("    CURVE costs \(format((curve.min()! / raw.min()! - 1) * 100, 0)) % over plain tcp (fastest round trips, same run)")
                }
                let wire = try await wireEcho(payload, endpoint: endpoint, rounds: rounds, worker: useProcess ? worker : nil)
                report("\(kind), wire echo", bytes: 2 * bytes, seconds: wire, reference: 2 * copy.min()!)
            }
        }
        let small = try await wireEcho(nil, endpoint: "tcp://127.0.0.1:0", rounds: 200, worker: useProcess ? worker : nil)
        print("\nempty echo (envelope only), tcp loopback: fastest \(format(small.min()! * 1e6, 1)) µs, median \(format(median(small) * 1e6, 1)) µs")
    }

    private func report(_ name: String, bytes: Int, seconds: [Double], reference: Double) {
        let best = seconds.min()!
        print("  \(pad(name, 40)) fastest \(pad(format(best * 1e3, 3) + " ms", 12)) median \(pad(format(median(seconds) * 1e3, 3) + " ms", 12)) "
              + "\(pad(format(Double(bytes) / best / 1e9) + " GB/s", 12)) \(format(reference / best * 100, 0))% of memcpy")
    }

    private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    private func referenceCopy(_ payload: Tensor, rounds: Int) -> [Double] {
        let destination = UnsafeMutableRawPointer.allocate(byteCount: payload.byteCount, alignment: 64)
        defer { destination.deallocate() }
        var times: [Double] = []
        payload.withUnsafeBytes { source in
            for round in 0..<rounds {
                let start = now()
                destination.copyMemory(from: source.baseAddress!, byteCount: source.count)
                times.append(now() - start)
                destination.storeBytes(of: UInt8(truncatingIfNeeded: round), toByteOffset: round, as: UInt8.self)
            }
        }
        return times
    }

    private func timeHash(_ payload: Tensor, rounds: Int) -> [Double] {
        var times: [Double] = []
        var sink: UInt64 = 0
        for round in 0..<rounds {
            let start = now()
            sink ^= payload.withUnsafeBytes { XXH64.hash($0, seed: UInt64(round)) }
            times.append(now() - start)
        }
        if sink == 42 { print("") }
        return times
    }

    /// Frames echoed by a bare transport in this process: the cost of ZeroMQ alone; with
    /// `curve`, both ends authenticated and every frame encrypted (ZeroMQ CURVE, a ZAP handler
    /// admitting the client's key).
    private func rawEcho(_ payload: Tensor, endpoint: String, rounds: Int, curve: Bool = false) async throws -> [Double] {
        let serverKeys = try CurveKeyPair.generate(), clientKeys = try CurveKeyPair.generate()
        let server = try transport(curve: curve ? CurveSettings(keys: serverKeys, allowedClients: [clientKeys.publicKey]) : nil)
        let client = try transport(curve: curve ? CurveSettings(keys: clientKeys) : nil)
        let bound = try await server.listen(on: endpoint)
        let echo = Task {
            for await message in server.inbound { try? server.send(message.frames, to: message.peer) }
        }
        let peer = try await client.connect(to: bound, serverKey: curve ? serverKeys.publicKey : nil)
        var replies = client.inbound.makeAsyncIterator()
        var times: [Double] = []
        for _ in 0..<(rounds + 1) {
            let start = now()
            try client.send([payload.storage], to: peer)
            guard let reply = await replies.next(), reply.frames[0].bytes.count == payload.byteCount else {
                throw ValidationError("the bare echo lost a message")
            }
            times.append(now() - start)
        }
        await client.close()
        await server.close()
        echo.cancel()
        return Array(times.dropFirst())
    }

    /// Echo messages through a worker (process or in-process server): encode, checksums, decode, validation.
    private func wireEcho(_ payload: Tensor?, endpoint: String, rounds: Int, worker: String?) async throws -> [Double] {
        var process: pid_t?
        var server: WorkerServer?
        var target = endpoint
        if let worker {
            let log = "/tmp/calibrate-bench-worker-\(getpid()).log"
            unlink(log)
            defer { unlink(log) }
            process = try ChildProcesses.spawn(worker, arguments: ["--listen", endpoint, "--threads", "1", "--chunk-bytes", String(chunkBytes)], standardError: log)
            target = try listeningEndpoint(log)
        } else {
            let listening = try transport()
            target = try await listening.listen(on: endpoint)
            let started = WorkerServer(transport: listening, handler: DiagnosticHandler(),
                                       configuration: ServerConfiguration(capabilities: .local(threads: 1), description: target), log: .silent)
            server = started
            Task { await started.run() }
        }
        let pool = WorkerPool(transport: try transport(), configuration: PoolConfiguration(heartbeatTimeout: .seconds(120)), log: .silent)
        let info = try await pool.connect(to: target)
        let tensors = payload.map { [NamedTensor("payload", $0)] } ?? []
        var times: [Double] = []
        for round in 0..<(rounds + 1) {
            let start = now()
            let reply = try await pool.request(.echo(Echo(note: String(round))), tensors: tensors, to: info.id)
            times.append(now() - start)
            guard reply.message.tensors.count == tensors.count else { throw ValidationError("the echo lost its tensor") }
        }
        await pool.shutdown(reason: "benchmark done", exitProcesses: true)
        if let process {
            for _ in 0..<500 where !ChildProcesses.hasExited(process) { usleep(10_000) }
            if !ChildProcesses.hasExited(process) { ChildProcesses.signal(process, SIGKILL) }
        }
        await server?.stop()
        return Array(times.dropFirst())
    }

    /// The endpoint a worker reports in its log ("listening on ENDPOINT"), waiting up to 20 s.
    private func listeningEndpoint(_ log: String) throws -> String {
        for _ in 0..<2000 {
            if let text = try? String(contentsOfFile: log, encoding: .utf8), let range = text.range(of: "listening on ") {
                let rest = text[range.upperBound...]
                if let end = rest.firstIndex(of: " ") { return String(rest[..<end]) }
            }
            usleep(10_000)
        }
        throw ValidationError("the worker did not report its endpoint in \(log)")
    }
}
