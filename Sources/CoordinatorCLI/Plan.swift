import ArgumentParser
import Checkpoint
import Cluster
import CoordinatorCore
import Foundation
import Kernels
import Model
import ModelConfiguration
import Tensors

/// `coordinator plan`: what a run will cost, before any work.
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what a calibration run will cost before any work: time per phase of a layer and in all, bytes per link, memory per process, the critical path.",
        discussion: """
            Rates are measured on this machine (a random layer's forward, XᵀX, the GPTQ factor and solve, packing, \
            memory, a loopback TCP transfer, a disk write; a few seconds) unless given: plan for \
            other hardware with --worker-rate, --coordinator-rate, --link and --disk. Example, a \
            70B model on 8 GPU workers behind 100 Gbit/s:
              coordinator plan --model Llama-3.1-70B/config.json --samples 512 --seq-len 2048 --workers 8 --worker-rate 400000 --link 100Gbit
            """)

    @Option(help: "Model directory or its config.json (only the shapes are read).")
    var model: String

    @OptionGroup var recipeOptions: RecipeOptions

    @Option(help: "Workers: a count, or a hosts file (its entries are counted).")
    var workers = "1"

    @Option(help: "Compute threads of a worker, for the measured rates (default: this machine's cores).")
    var workerThreads: Int?

    @Flag(help: "The workers run on this machine (as with `coordinator --local-workers N`), sharing its cores: their rates are this machine's, divided among them.")
    var local = false

    @Option(help: "Each worker's forward-pass rate in GFLOP/s (XᵀX and the solve scale with it from the measured ratios).")
    var workerRate: Double?

    @Option(help: "Each worker's XᵀX rate in GFLOP/s counting K² per token (default: the measured ratio to the forward).")
    var statisticsRate: Double?

    @Option(help: "Each worker's GPTQ solve rate in GFLOP/s counting K² per row (default: the measured ratio to the forward).")
    var solveRate: Double?

    @Option(help: "Each worker's GPTQ factor rate in GFLOP/s counting K³ (default: the measured factor rate, scaled as the worker's forward).")
    var workerFactorRate: Double?

    @Option(help: "The coordinator's factor rate in GFLOP/s (unpacking and merging scale with it).")
    var coordinatorRate: Double?

    @Option(help: "Every link's rate, e.g. 25Gbit, 100Gbit, 1.2GB/s (default: a loopback TCP transfer measured here).")
    var link: String?

    @Option(help: "The coordinator's link, if it differs from the workers'.")
    var coordinatorLink: String?

    @Option(help: "The coordinator's disk write rate, e.g. 500MB/s (default: measured in the temporary directory).")
    var disk: String?

    @Option(help: "Packed statistics, bytes per sum (5.1 measured on SmolLM2's activations).")
    var bytesPerSum = 5.1

    @Option(help: "Workers a stage's solve is spread over, as the job's --solve-workers: auto, all or at most N.")
    var solveWorkers: SolveWorkers = .auto

    @Option(help: "Where GPTQ's factors are made, as the job's --factor-on: auto (where the rates say it is faster), coordinator or workers.")
    var factorOn: FactorPlace = .auto

    @Flag(help: "Print the plan as JSON.")
    var json = false

    func validate() throws {
        if let workerThreads, workerThreads < 1 { throw ValidationError("--worker-threads must be at least 1, found \(workerThreads)") }
        if local && workerThreads != nil { throw ValidationError("--local divides this machine's cores among the workers: give it or --worker-threads") }
        for (flag, value) in [("--worker-rate", workerRate), ("--statistics-rate", statisticsRate), ("--solve-rate", solveRate), ("--worker-factor-rate", workerFactorRate), ("--coordinator-rate", coordinatorRate)] {
            if let value, !(value > 0 && value.isFinite) { throw ValidationError("\(flag) must be a positive number of GFLOP/s, found \(value)") }
        }
        guard bytesPerSum > 0, bytesPerSum <= 16 else { throw ValidationError("--bytes-per-sum must be in (0, 16], found \(bytesPerSum)") }
    }

    func run() throws {
        let recipe = try recipeOptions.makeRecipe()
        let config = try Self.config(model)
        let count = try workerCount()
        let rates = try measuredRates(config: config, sequenceLength: recipe.sequenceLength, sharedBy: local ? count : 1)
        let sourceBytes: Double = config.torchDtype == .f32 ? 4 : 2
        let plan = JobPlan(config: config, recipe: recipe, workers: count, rates: rates, sourceBytesPerWeight: sourceBytes, solveWorkers: solveWorkers.limit, factorOn: factorOn)
        if json {
            let data = try JSONSerialization.data(withJSONObject: Self.summary(plan), options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(plan.table())
        }
    }

    /// The model's config from its directory or from a config.json path.
    static func config(_ path: String) throws -> ModelConfig {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw ValidationError("--model \(path): no such file or directory") }
        if isDirectory.boolValue { return try ModelConfig(directory: path) }
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("--model \(path): cannot be read") }
        return try ModelConfig(parsing: data, file: path)
    }

    func workerCount() throws -> Int {
        if let count = Int(workers) {
            guard count >= 1 else { throw ValidationError("--workers must be at least 1, found \(count)") }
            return count
        }
        let endpoints = try HostsFile.load(path: workers)
        guard !endpoints.isEmpty else { throw ValidationError("hosts file \(workers) lists no worker") }
        return endpoints.count
    }

    /// The rates: measured here (a worker's divided by `sharedBy`, the workers sharing this
    /// machine), then overridden by the flags given.
    func measuredRates(config: ModelConfig, sequenceLength: Int, sharedBy: Int) throws -> JobPlan.Rates {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        BLAS.setThreadCount(workerThreads ?? cores)
        let forward = try ForwardRate.measure(config: config, sequenceLength: sequenceLength)
        let (statistics, probe) = try KernelRates.statistics(columns: min(config.intermediateSize, 2048), rows: 1024)
        let (_, small) = try KernelRates.statistics(columns: 1024, rows: 2048)
        BLAS.setThreadCount(cores)
        let (factor, factored) = try KernelRates.factor(small)
        BLAS.setThreadCount(workerThreads ?? cores)
        let solve = try KernelRates.solve(factored, rows: 512)
        let pack = try KernelRates.packing(probe).pack
        BLAS.setThreadCount(cores)
        let coordinator = try KernelRates.packing(probe)
        let memory = KernelRates.memoryCopy()
        let scale = workerRate.map { $0 / forward } ?? 1 / Double(sharedBy)
        let coordinatorScale = coordinatorRate.map { $0 / factor } ?? 1
        let linkRate = try link.map(ByteSize.parseRate) ?? Self.loopbackRate()
        return JobPlan.Rates(
            forwardGFLOPS: forward * scale, statisticsGFLOPS: statisticsRate ?? statistics * scale, solveGFLOPS: solveRate ?? solve * scale, factorGFLOPS: coordinatorRate ?? factor,
            packBytesPerSecond: pack * scale, unpackBytesPerSecond: coordinator.unpack * coordinatorScale, mergeBytesPerSecond: coordinator.merge * coordinatorScale,
            memoryBytesPerSecond: memory * scale, workerLinkBytesPerSecond: linkRate,
            coordinatorLinkBytesPerSecond: try coordinatorLink.map(ByteSize.parseRate) ?? linkRate,
            diskBytesPerSecond: try disk.map(ByteSize.parseRate) ?? Self.diskRate(), packedBytesPerSum: bytesPerSum,
            workerFactorGFLOPS: workerFactorRate ?? factor * scale)
    }

    /// 256 MiB through a loopback TCP connection, one thread each side, bytes per second.
    static func loopbackRate(bytes: Int = 256 << 20) throws -> Double {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw ValidationError("loopback probe: socket: \(String(cString: strerror(errno)))") }
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        guard bound else { throw ValidationError("loopback probe: bind/listen: \(String(cString: strerror(errno)))") }
        let listening = address
        let sender = Thread {
            let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var target = listening
            let connected = withUnsafeMutablePointer(to: &target) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            let chunk = [UInt8](repeating: 7, count: 1 << 20)
            var left = connected ? bytes : 0
            while left > 0 {
                let sent = chunk.withUnsafeBytes { send(client, $0.baseAddress, min(left, $0.count), Int32(MSG_NOSIGNAL)) }
                if sent <= 0 { break }
                left -= sent
            }
            close(client)
        }
        sender.start()
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { throw ValidationError("loopback probe: accept: \(String(cString: strerror(errno)))") }
        defer { close(connection) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var received = 0
        let start = ContinuousClock.now
        while received < bytes {
            let n = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += n
        }
        let d = ContinuousClock.now - start
        guard received == bytes else { throw ValidationError("loopback probe: received \(received) of \(bytes) bytes") }
        return Double(bytes) / d.seconds
    }

    /// 128 MiB written and synced in the temporary directory, bytes per second.
    static func diskRate(bytes: Int = 128 << 20) throws -> Double {
        let path = NSTemporaryDirectory() + "calibrate-plan-\(getpid()).probe"
        defer { unlink(path) }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { throw ValidationError("disk probe: cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let chunk = [UInt8](repeating: 3, count: 4 << 20)
        let start = ContinuousClock.now
        var written = 0
        while written < bytes {
            let n = chunk.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard n > 0 else { throw ValidationError("disk probe: writing \(path): \(String(cString: strerror(errno)))") }
            written += n
        }
        fsync(descriptor)
        let d = ContinuousClock.now - start
        return Double(written) / d.seconds
    }

    /// The plan as JSON-ready values: per-layer phases (seconds by resource), totals, traffic, memory.
    static func summary(_ plan: JobPlan) -> [String: Any] {
        [
            "workers": plan.workers,
            "samples_per_worker": plan.samplesPerWorker,
            "layers": plan.config.numHiddenLayers,
            "phases": plan.layer.map { phase -> [String: Any] in
                ["name": phase.name, "seconds": phase.total,
                 "by_resource": Dictionary(uniqueKeysWithValues: phase.seconds.map { ($0.key.rawValue, $0.value) })]
            },
            "layer_seconds": plan.layerSeconds,
            "start_seconds": plan.startSeconds,
            "finish_seconds": plan.finishSeconds,
            "total_seconds": plan.totalSeconds,
            "layer_bytes_sent": plan.layerTraffic.sent,
            "layer_bytes_received": plan.layerTraffic.received,
            "start_bytes": plan.startBytes,
            "worker_peak_bytes": plan.workerPeakBytes,
            "solvers": Dictionary(uniqueKeysWithValues: plan.solvers.map { ($0.key.description, $0.value) }),
            "factored_on_workers": plan.factoredOnWorkers.map(\.description).sorted(),
            "coordinator_peak_bytes": plan.coordinatorPeakBytes,
            "rates": [
                "forward_gflops": plan.rates.forwardGFLOPS, "statistics_gflops": plan.rates.statisticsGFLOPS,
                "solve_gflops": plan.rates.solveGFLOPS, "factor_gflops": plan.rates.factorGFLOPS,
                "pack_bytes_per_second": plan.rates.packBytesPerSecond, "unpack_bytes_per_second": plan.rates.unpackBytesPerSecond,
                "merge_bytes_per_second": plan.rates.mergeBytesPerSecond, "memory_bytes_per_second": plan.rates.memoryBytesPerSecond,
                "worker_link_bytes_per_second": plan.rates.workerLinkBytesPerSecond,
                "coordinator_link_bytes_per_second": plan.rates.coordinatorLinkBytesPerSecond,
                "disk_bytes_per_second": plan.rates.diskBytesPerSecond, "packed_bytes_per_sum": plan.rates.packedBytesPerSum,
            ],
            "notes": plan.notes,
        ]
    }
}
