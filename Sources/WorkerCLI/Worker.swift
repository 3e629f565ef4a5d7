import ArgumentParser
import Cluster
import WorkerService
import Kernels
import Transport
import Wire

/// `worker`: holds a share of the calibration samples and runs the work the coordinator sends.
@main
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Serve calibration work for a coordinator.",
        discussion: """
            Listens for one coordinator at a time and runs its calibration job: holds this worker's \
            share of the samples, captures statistics, solves row pieces, applies quantized layers. \
            SIGINT or SIGTERM stops it cleanly.
            """)

    @Option(help: "ZeroMQ endpoint to listen on: tcp://ADDRESS:PORT (port 0: any free port) or ipc://PATH.")
    var listen = "tcp://0.0.0.0:5555"

    @Option(help: "Compute threads (OpenBLAS); default: every online core.")
    var threads: Int?

    @Option(help: "Largest tensor frame accepted, in bytes.")
    var maxFrameBytes = WireLimits().maxFrameBytes

    @Flag(help: "Exit when the parent process exits (set by coordinators that start local workers).")
    var exitWithParent = false

    @Flag(help: "Log every message refused and every reply dropped.")
    var verbose = false

    @Option(help: .hidden)
    var protocolVersion = WireProtocol.version

    @Flag(help: .hidden)
    var diagnostic = false

    /// Messages over this many bytes are sent in chunks of at most this size (tests and benchmarks).
    @Option(help: .hidden)
    var chunkBytes = ZMQTransport.Configuration().chunkBytes

    /// ACTION:PHASE:LAYER (kill, stop or exit this process just before it handles the first
    /// matching job request): tests of lost workers on real processes; never shown in --help.
    @Option(help: ArgumentHelp(visibility: .private), transform: { try FaultInjection(parsing: $0) })
    var fault: FaultInjection?

    func validate() throws {
        guard listen.hasPrefix("tcp://") || listen.hasPrefix("ipc://") else {
            throw ValidationError("--listen \(listen): expected tcp://ADDRESS:PORT or ipc://PATH")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, found \(threads)") }
        guard maxFrameBytes > 0 else { throw ValidationError("--max-frame-bytes must be positive") }
        guard chunkBytes > 0 else { throw ValidationError("--chunk-bytes must be positive, found \(chunkBytes)") }
    }

    func run() async throws {
        let threadCount = threads ?? Capabilities.local(threads: 0).cores
        BLAS.setThreadCount(threadCount)
        let log = Log.standardError(label: "worker", minimumLevel: verbose ? .debug : .info)
        let transport = try ZMQTransport(configuration: .init(maxFrameBytes: maxFrameBytes, chunkBytes: chunkBytes))
        let bound = try await transport.listen(on: listen)
        let server = WorkerServer(
            transport: transport, handler: diagnostic ? DiagnosticHandler() : CalibrationHandler(fault: fault),
            configuration: ServerConfiguration(
                capabilities: .local(threads: threadCount), description: bound,
                limits: WireLimits(maxFrameBytes: maxFrameBytes), protocolVersion: protocolVersion),
            log: log)
        ProcessSignals.onTermination { signal in
            log.info("signal \(signal): stopping")
            Task { await server.stop() }
        }
        if exitWithParent {
            ProcessSignals.onParentExit {
                log.warning("the parent process exited: stopping")
                Task { await server.stop() }
            }
        }
        log.info("listening on \(bound) (protocol version \(protocolVersion), \(threadCount) threads, libzmq \(zmqVersion()))")
        await server.run()
        log.info("stopped")
    }
}
