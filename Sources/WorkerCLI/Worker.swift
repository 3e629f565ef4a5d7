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

            On a network others can reach, admit only your coordinators (keys from \
            `coordinator keygen`), and limit the models jobs may read:
              worker --listen tcp://0.0.0.0:5555 --key keys/node-1.key --allow keys/coordinator.pub --models /models
            Without --key a worker on a non-loopback address refuses to start unless given --insecure.
            """)

    @Option(help: "ZeroMQ endpoint to listen on: tcp://ADDRESS:PORT (port 0: any free port) or ipc://PATH.")
    var listen = "tcp://0.0.0.0:5555"

    @Option(help: "Compute threads (OpenBLAS); default: every online core.")
    var threads: Int?

    @Option(help: "Largest tensor frame accepted, in bytes.")
    var maxFrameBytes = WireLimits().maxFrameBytes

    @Option(help: "This worker's CURVE secret key file (from `coordinator keygen`): it then admits only coordinators whose public keys --allow names, and every connection is encrypted.")
    var key: String?

    @Option(help: "A coordinator public key file, or a directory of .pub files, allowed to connect (with --key; may be repeated).")
    var allow: [String] = []

    @Flag(help: "Listen on a non-loopback tcp address without --key: anyone who reaches the port can run jobs here (warned at every session).")
    var insecure = false

    @Option(help: ArgumentHelp("A directory this worker may read models from (may be repeated); a job naming a model anywhere else is refused before the path is touched. Default: any path the coordinator names.", valueName: "DIR"))
    var models: [String] = []

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
        guard (key == nil) == allow.isEmpty else {
            throw ValidationError(key == nil ? "--allow needs --key (this worker's secret key file)" : "--key needs --allow: the coordinators' public keys (a .pub file or a directory of them)")
        }
        if key == nil, !insecure, !Self.isLocal(listen) {
            throw ValidationError("--listen \(listen) is reachable from other machines, and anyone who reaches it could run jobs here: "
                                  + "give --key FILE --allow COORDINATOR.pub (see `coordinator keygen --help`), or --insecure to run without authentication")
        }
    }

    /// Whether `endpoint` is reachable from this machine only: ipc, or tcp on a loopback address.
    static func isLocal(_ endpoint: String) -> Bool {
        guard endpoint.hasPrefix("tcp://") else { return true }
        let hostPort = endpoint.dropFirst(6)
        let host = hostPort.lastIndex(of: ":").map { String(hostPort[..<$0]) } ?? String(hostPort)
        return host == "localhost" || host == "[::1]" || host.hasPrefix("127.")
    }

    func run() async throws {
        let threadCount = threads ?? Capabilities.local(threads: 0).cores
        BLAS.setThreadCount(threadCount)
        let log = Log.standardError(label: "worker", minimumLevel: verbose ? .debug : .info)
        var curve: CurveSettings?
        if let key {
            var allowed: Set<String> = []
            for path in allow { allowed.formUnion(try CurveKeyFiles.publicKeys(at: path)) }
            curve = CurveSettings(keys: try CurveKeyFiles.keyPair(at: key), allowedClients: allowed)
        }
        let transport = try ZMQTransport(configuration: .init(maxFrameBytes: maxFrameBytes, chunkBytes: chunkBytes, curve: curve, diagnostics: { message in
            log.warning(message)
        }))
        let bound = try await transport.listen(on: listen)
        let server = WorkerServer(
            transport: transport, handler: diagnostic ? DiagnosticHandler() : CalibrationHandler(modelDirectories: models, fault: fault),
            configuration: ServerConfiguration(
                capabilities: .local(threads: threadCount), description: bound,
                limits: WireLimits(maxFrameBytes: maxFrameBytes), protocolVersion: protocolVersion, unauthenticated: key == nil && !Self.isLocal(listen)),
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
