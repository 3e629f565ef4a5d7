import Checkpoint
import Formats
import Foundation
import JobProtocol
import Kernels
import Model
import ModelConfiguration
import Tensors

/// What a calibration job works on: the model, the output, the recipe and the samples.
public struct JobInputs: Sendable {
    public var modelPath: String
    public var outputPath: String
    public var overwrite: Bool
    public var recipe: Recipe
    /// The calibration sequences (token ids), already cut and sampled.
    public var sequences: [[Int32]]
    /// BLAS threads each worker uses (0: leave each worker's setting alone).
    public var workerThreads: Int
    /// Tokens per statistics batch (whole sequences, at least one): larger batches spread the
    /// exact sums' per-batch conversion over more tokens.
    public var statisticsBatchTokens: Int
    /// Fewest live workers the job goes on with: below it, a loss stops the job.
    public var minWorkers: Int
    /// Go on with the unfinished job in `outputPath` (its `calibrate-progress.json`) instead of
    /// starting one.
    public var resume: Bool
    /// How workers that join get their samples' hidden states.
    public var joinTransfer: JoinTransfer
    /// Refuse to start when the output's filesystem cannot hold the checkpoint (`OutputSpace`).
    public var checkSpace = true
    /// Solve every stage on at most this many workers; nil: as many as pay for their copy of the
    /// factor, from the rates the job's solves so far measured (`SolvePlacement`).
    public var solveWorkers: Int?
    /// Where GPTQ's factors are made.
    public var factorOn: FactorPlace = .auto

    public init(modelPath: String, outputPath: String, overwrite: Bool, recipe: Recipe, sequences: [[Int32]], workerThreads: Int = 0,
                statisticsBatchTokens: Int = 2048, minWorkers: Int = 1, resume: Bool = false, joinTransfer: JoinTransfer = .move) {
        self.modelPath = modelPath
        self.outputPath = outputPath
        self.overwrite = overwrite
        self.recipe = recipe
        self.sequences = sequences
        self.workerThreads = workerThreads
        self.statisticsBatchTokens = statisticsBatchTokens
        self.minWorkers = minWorkers
        self.resume = resume
        self.joinTransfer = joinTransfer
    }
}

/// Where a stage's GPTQ factor is made. The coordinator sends the solving workers either the
/// factor or H (as a Float upper triangle: the same bytes), so the choice costs no traffic; it is
/// where the K³ runs, and the output's bytes do not depend on it (`GPTQHessian`).
public enum FactorPlace: String, Sendable, CaseIterable {
    /// Where it ran faster so far: the coordinator first, the workers once, then the faster.
    case auto
    case coordinator
    /// Every solving worker makes it (in parallel; the coordinator's CPU is off the critical path).
    case workers
}

/// How a worker that joins a running job gets the hidden states of the samples it takes over.
public enum JoinTransfer: String, Sendable, CaseIterable {
    /// The workers that held them send them (T·hidden·4 bytes over the wire).
    case move
    /// It rebuilds them from the embeddings through the layers done (a forward per layer).
    case replay
}

/// The coordinator's side of the distributed, layer-by-layer calibration (docs/ARCHITECTURE.md,
/// "The main job"):
///
///     start workers (each embeds its share of the samples)
///     for each layer: load → for each stage (q/k/v, o, gate/up, down):
///         capture statistics on every worker → merge in worker order → prepare the factor →
///         solve row pieces across workers → assemble → apply on every worker
///     → write the layer's tensors
///     finish: side files, config.json, then the index (the checkpoint is complete only then)
///
/// Without true-sequential the whole layer is captured with the original weights first.
public final class CalibrationJob {
    let inputs: JobInputs
    /// Every worker the job has had, in the order they came: the workers it started with, then
    /// those that joined. A lost one stays in its place, marked in `alive`.
    var workers: [any WorkerConnection]
    /// Where joining workers come from (nil: the job keeps the workers it started with).
    let joining: (any WorkerJoining)?
    let progress: ProgressReporter?
    let config: ModelConfig
    let reader: CheckpointReader
    let configJSON: [UInt8]
    /// The checkpoint being written (set by `run`): completed layers are replayed from it.
    var writer: ShardedCheckpointWriter?
    /// What each worker is doing, for the progress line.
    var states: [String]
    /// Remarks for the report (fallbacks taken, groups skipped).
    var notes: [String] = []
    /// Which workers are still in the job; a lost one never comes back into it.
    var alive: [Bool]
    /// The samples each live worker holds: global runs of whole statistics blocks.
    var blocks: [[Range<Int>]]
    /// Samples of lost workers not yet adopted by a survivor.
    var orphaned: [Range<Int>] = []
    /// What each completed layer did to the hidden states, to replay it on adopted samples.
    var replayLog: [[ReplayEvent]] = []
    /// The layer in progress's events so far.
    var layerEvents: [ReplayEvent] = []
    /// The solves' measured link and solve rates, which spread the later solves.
    var solveObservations = SolveObservations()
    var losses: [JobReport.Loss] = []
    var joins: [JobReport.Join] = []
    /// Joined workers whose start failed: never given samples.
    var failedJoins: Set<Int> = []
    var departures: [JobReport.Departure] = []
    /// Workers that left the job (their samples handed over), and what they said when they did.
    var departed: Set<Int> = []
    var departedSummaries: [Int: WorkerSummary] = [:]
    /// Workers told to leave that stay for now (too few would be left), so that it is said once.
    var heldBack: Set<Int> = []
    var startTime = Date()

    /// Opens the model and checks the inputs against it, before any work starts.
    /// - Throws: `JobError` (or the checkpoint's error) naming what does not fit.
    /// - Parameter joining: where workers that join the running job come from (asked at every layer boundary).
    public init(inputs: JobInputs, workers: [any WorkerConnection], joining: (any WorkerJoining)? = nil, progress: ProgressReporter? = nil) throws {
        guard !workers.isEmpty else { throw JobError("no workers: give --workers hosts.txt or --local-workers N") }
        self.inputs = inputs
        self.workers = workers
        self.joining = joining
        self.progress = progress
        try inputs.recipe.validate()
        config = try ModelConfig(directory: inputs.modelPath)
        reader = try CheckpointReader(path: inputs.modelPath)
        guard let data = FileManager.default.contents(atPath: (inputs.modelPath as NSString).appendingPathComponent("config.json")) else {
            throw JobError("\(inputs.modelPath)/config.json: cannot read")
        }
        configJSON = [UInt8](data)
        states = workers.map { _ in "idle" }
        alive = workers.map { _ in true }
        blocks = workers.map { _ in [] }
        guard inputs.minWorkers >= 1 else { throw JobError("--min-workers \(inputs.minWorkers): at least 1") }
        guard inputs.minWorkers <= workers.count else {
            throw JobError("--min-workers \(inputs.minWorkers) is more than the \(workers.count) worker(s) of the job")
        }
        try checkFits()
    }

    /// Refuses to start (before the journal of a new job is written) when the output's
    /// filesystem cannot hold what is left to write, unless `checkSpace` is off.
    private func checkSpace(_ output: OutputDirectory, written: [ShardedCheckpointWriter.WrittenShard]) throws {
        guard inputs.checkSpace else { return }
        let estimate = try OutputSpace.estimate(reader: reader, recipe: inputs.recipe)
        try OutputSpace.check(output.path, needed: estimate - written.reduce(0) { $0 + $1.bytes })
    }

    private func checkFits() throws {
        let recipe = inputs.recipe
        if recipe.groupSize != -1 {
            for stage in LayerStage.allCases where stage.inputWidth(config) % recipe.groupSize != 0 {
                throw JobError("group size \(recipe.groupSize) does not divide the \(stage) input width \(stage.inputWidth(config)) of \(inputs.modelPath); choose a divisor or -1 (per channel)")
            }
        }
        guard !inputs.sequences.isEmpty else { throw JobError("no calibration samples") }
        if let long = inputs.sequences.firstIndex(where: { $0.count > config.maxPositionEmbeddings }) {
            throw JobError("sample \(long) has \(inputs.sequences[long].count) tokens, more than max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        // Every tensor the config requires, in the dtype and shape it implies, before a worker starts.
        try CheckpointWeightSource(config: config, reader: reader).checkLayout()
    }

    /// Runs the job to the end and writes the checkpoint.
    /// - Returns: the report (also written beside the checkpoint).
    /// - Throws: the first error of any worker, naming the worker; the output directory is then
    ///   left without its index, visibly incomplete.
    public func run() async throws -> JobReport {
        startTime = Date()
        let start = startTime
        let fingerprint = try JobFingerprint(inputs: inputs, configJSON: configJSON, reader: reader)
        let output: OutputDirectory
        var journal: JobJournal
        if inputs.resume {
            (output, journal) = try resumable(fingerprint)
            try output.checkWritable()
            try checkSpace(output, written: journal.shards)
            progress?.log("resuming \(inputs.outputPath) at layer \(journal.layers.count) of \(config.numHiddenLayers) "
                          + "(\(journal.shards.count) shard(s) kept; the layers before are replayed on the samples)")
        } else {
            if !inputs.overwrite, try JobJournal.read(from: inputs.outputPath) != nil {
                throw JobError("\(inputs.outputPath) holds an unfinished job (\(JobJournal.fileName)): pass --resume to go on with it, or --overwrite to start again")
            }
            output = try OutputDirectory(preparing: inputs.outputPath, overwrite: inputs.overwrite)
            try checkSpace(output, written: [])
            journal = JobJournal(fingerprint: fingerprint, shards: [], layers: [])
            try journal.write(to: output)
        }
        let firstLayer = journal.layers.count
        var report = JobReport(recipe: inputs.recipe, model: inputs.modelPath, output: inputs.outputPath)
        report.layers = journal.layers.map(\.report)
        if inputs.resume { report.resumedAt = firstLayer }
        var quantizedModules = journal.layers.flatMap(\.quantized)
        replayLog = try journal.layers.map { try $0.events.map { try $0.event(file: JobJournal.fileName) } }
        let shards = SampleShards.split(samples: inputs.sequences.count, capacities: workers.map(\.capacity), block: statisticsBlock)
        let writer = ShardedCheckpointWriter(directory: output.path, maxShardSize: inputs.recipe.maxShardSize, resuming: journal.shards)
        self.writer = writer
        if firstLayer == config.numHiddenLayers {
            // Every layer was done: only the writing is left, and no worker is needed.
        } else if firstLayer == 0 {
            blocks = shards.map { $0.isEmpty ? [] : [$0] }
            do {
                try await startWorkers(shards: shards)
            } catch is WorkersLost {
                try await recover(layer: 0)
            }
        } else {
            // Resumed: the workers start empty and rebuild every sample's hidden states at the
            // first layer to redo, as survivors rebuild a lost worker's (the layers done replayed
            // from the shards written).
            orphaned = shards.filter { !$0.isEmpty }
            try await startWorkers(shards: shards.map { $0.lowerBound..<$0.lowerBound })
            try await recover(layer: firstLayer)
        }
        for name in reader.names where !name.hasPrefix("model.layers.") && !writer.isWritten(name) {
            try writer.add(name, try reader.tensor(name))
        }
        for layer in firstLayer..<config.numHiddenLayers {
            while true {
                do {
                    try await changeWorkers(layer: layer)
                    let before = await traffic()
                    let (calibrated, quantized, tensors) = try await calibrate(layer: layer, writer: writer)
                    var layerReport = calibrated
                    let crossed = await traffic() - before
                    if !crossed.byKind.isEmpty { layerReport.traffic = crossed.byPhase }
                    report.layers.append(layerReport)
                    quantizedModules += quantized
                    journal.layers.append(JobJournal.LayerRecord(index: layer, tensors: tensors, events: replayLog[layer].map(JobJournal.Event.init),
                                                                 report: layerReport, quantized: quantized))
                    journal.shards = writer.written
                    try journal.write(to: output)
                    break
                } catch is WorkersLost {
                    try await recover(layer: layer)
                }
            }
            progress?.layerDone(layer)
        }
        currentPhase = (config.numHiddenLayers, "finish")
        let replies = firstLayer == config.numHiddenLayers ? workers.map { _ in nil } : try await broadcast("finish", keepLost: true) { _ in .finish }
        for (index, worker) in workers.enumerated() {
            var summary: WorkerSummary?
            if case .finished(let value)? = replies[index] { summary = value }
            summary = summary ?? departedSummaries[index]
            let samples = blocks[index].reduce(0) { $0 + $1.count }
            let role = alive[index] ? "worker" : failedJoins.contains(index) ? "worker (join failed)" : departed.contains(index) ? "worker (left)" : "worker (lost)"
            report.processes.append(.init(role: role, address: worker.address, samples: samples,
                                          peakResidentBytes: summary?.peakResidentBytes ?? 0,
                                          blas: summary.flatMap { s in s.blasCore.map { "\($0) × \(s.blasThreads)" } }))
        }
        report.losses = losses
        report.joins = joins
        report.departures = departures
        report.processes.insert(.init(role: "coordinator", address: "localhost", samples: 0, peakResidentBytes: ProcessMemory.peakResidentBytes ?? 0,
                                      blas: "\(BLAS.coreName) × \(BLAS.threadCount)"), at: 0)
        // Thread counts do not change a bit (tiled BLAS, `ComputeThreads`); kernel families do.
        let kernels = Set(report.processes.filter { $0.role == "worker" }.compactMap { $0.blas?.split(separator: " ").first.map(String.init) })
        if kernels.count > 1 {
            notes.append("workers computed with different OpenBLAS kernels (\(kernels.sorted().joined(separator: ", "))): "
                         + "each kernel family rounds its sums in its own order, so which worker held which samples "
                         + "shows in the bytes (another split, or a lost worker, can change them); give every worker the same "
                         + "OPENBLAS_CORETYPE to pin them")
        }
        for (index, worker) in workers.enumerated() {
            let traffic = await worker.traffic()
            report.bytesSent += traffic.sent
            report.bytesReceived += traffic.received
            // Process 0 is the coordinator.
            if !traffic.byKind.isEmpty { report.processes[index + 1].traffic = traffic.byPhase }
        }
        for note in notes where !report.notes.contains(note) { report.notes.append(note) }
        let ignored = ignoredModules(quantized: Set(quantizedModules))
        do {
            try writeCheckpoint(writer, output: output, report: &report, start: start, ignored: ignored)
        } catch {
            // Nothing that reads as finished stays (the writer gave the shards their pending
            // names back); the journal still describes the job, so --resume writes it again.
            for name in ["config.json", "calibrate-manifest.json", "calibrate-report.json", "calibrate-report.md"] {
                try? FileManager.default.removeItem(atPath: output.file(name))
            }
            throw JobError("writing the checkpoint into \(output.path) failed, and nothing in it reads as finished: \(error); "
                           + "every layer is done: free space and run the same command with --resume to write it")
        }
        // Complete: the index is written; the journal has served.
        try? FileManager.default.removeItem(atPath: output.file(JobJournal.fileName))
        progress?.finish()
        return report
    }

    /// The last step: shards under their final names, the side files, config.json, the index.
    private func writeCheckpoint(_ writer: ShardedCheckpointWriter, output: OutputDirectory, report: inout JobReport, start: Date, ignored: [String]) throws {
        try writer.finish { files in
            report.shards = try files.map { name in
                let path = output.file(name)
                let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                return JobReport.Shard(name: name, bytes: size, sha256: try SHA256.hexDigest(ofFile: path))
            }
            report.totalSeconds = Date().timeIntervalSince(start)
            try output.copyAuxiliaryFiles(from: inputs.modelPath)
            try output.writeJSON(try JSONSerialization.jsonObject(with: report.manifest()), to: "calibrate-manifest.json")
            try AtomicFile.write(Array(try report.json()), to: output.file("calibrate-report.json"))
            try AtomicFile.write(Array(report.markdown().utf8), to: output.file("calibrate-report.md"))
            try output.writeConfig(from: inputs.modelPath, quantizationConfig: CompressedTensorsConfig.quantizationConfig(weights: try scheme(), staticActOrder: inputs.recipe.actOrder, activationBits: inputs.recipe.activationBits, ignore: ignored))
        }
    }

    /// Full names of the linear modules not quantized: lm_head and everything the recipe ignores.
    private func ignoredModules(quantized: Set<String>) -> [String] {
        var names: [String] = ["lm_head"]
        for layer in 0..<config.numHiddenLayers {
            for stage in LayerStage.allCases {
                for linear in stage.linearNames {
                    let name = LayerWeights.tensorName(layer: layer, linear)
                    if !quantized.contains(name) { names.append(name) }
                }
            }
        }
        return names
    }

    // MARK: - Workers

    private func startWorkers(shards: [Range<Int>]) async throws {
        _ = try await broadcast("start") { index in try self.startRequest(shards[index]) }
    }

    /// The job as a worker holding `shard` starts it.
    func startRequest(_ shard: Range<Int>) throws -> WorkerRequest {
        let sequences = Array(inputs.sequences[shard])
        let job = WorkerJob(jobID: jobID, modelPath: inputs.recipe.streamWeights ? nil : inputs.modelPath, configJSON: configJSON,
                            sequences: sequences, firstSample: shard.lowerBound, threads: inputs.workerThreads,
                            trueSequential: inputs.recipe.trueSequential && inputs.recipe.method != .awq,
                            statisticsBlock: statisticsBlock)
        return .start(job, embeddings: try streamedEmbeddings(of: sequences))
    }

    /// The embedding rows of `sequences` for workers that cannot read the model (streamed
    /// weights); nil when the workers read it themselves.
    func streamedEmbeddings(of sequences: [[Int32]]) throws -> Tensor? {
        guard inputs.recipe.streamWeights else { return nil }
        let tokens = sequences.flatMap { $0 }
        let rows = try CheckpointWeightSource(config: config, reader: reader).embeddings(of: tokens)
        return Tensor(floats: rows.values, shape: [tokens.count, config.hiddenSize])
    }

    /// Sequences per statistics batch: about `statisticsBatchTokens` (2048) tokens, where the
    /// exact sums' per-batch conversion cost is small next to the batch's XᵀX.
    var statisticsBlock: Int { max(1, inputs.statisticsBatchTokens / max(inputs.sequences.map(\.count).max() ?? 1, 1)) }

    /// A job identifier unique enough to tell jobs apart in logs.
    lazy var jobID = WorkerJob.newID()

    /// Sends `makeRequest(i)` to every live worker `i` concurrently (none where it returns nil)
    /// and waits for every reply.
    /// - Parameter keepLost: return the others' replies when workers are lost (the job's end).
    /// - Returns: the replies in worker order, nil where nothing was sent (or a worker was lost).
    /// - Throws: `JobError` naming the worker whose request failed, or whose reply does not
    ///   answer its request (another case, layer or stage, or a part per stage missing);
    ///   otherwise `WorkersLost` when workers were lost (marked lost, their samples orphaned).
    /// - Parameter absorb: called with each successful reply as it arrives (any order), returning
    ///   what to keep of it: a capture merges the statistics there, so the coordinator holds a
    ///   running sum rather than every worker's copy. What it throws is that worker's failure.
    func broadcast(_ what: String, keepLost: Bool = false, absorb: ((Int, WorkerReply) throws -> WorkerReply)? = nil,
                   _ makeRequest: (Int) throws -> WorkerRequest?) async throws -> [WorkerReply?] {
        let requests = try workers.indices.map { alive[$0] ? try makeRequest($0) : nil }
        for index in workers.indices where requests[index] != nil { states[index] = what }
        report()
        // A struct rather than (Int, Result<WorkerReply, any Error>): Swift 6.3's release builds
        // returned a garbage index from child tasks returning that tuple.
        // Replies `absorb` took (checked against their requests before; what it kept may not answer them).
        var absorbed = Set<Int>()
        let results = await withTaskGroup(of: Outcome.self) { group in
            for (index, worker) in workers.enumerated() {
                guard let request = requests[index] else { continue }
                group.addTask {
                    do { return Outcome(index: index, result: .success(try await worker.send(request))) } catch {
                        return Outcome(index: index, result: .failure(error))
                    }
                }
            }
            var results: [Int: Result<WorkerReply, any Error>] = [:]
            for await outcome in group {
                guard let absorb, case .success(let reply) = outcome.result, let request = requests[outcome.index], reply.answers(request) else {
                    results[outcome.index] = outcome.result
                    continue
                }
                results[outcome.index] = Result { try absorb(outcome.index, reply) }
                absorbed.insert(outcome.index)
            }
            return results
        }
        var replies = [WorkerReply?](repeating: nil, count: workers.count)
        var failure: JobError?
        var lost: [(Int, WorkerLost)] = []
        for index in workers.indices {
            guard let result = results[index], let request = requests[index] else { continue }
            states[index] = "idle"
            switch result {
            case .success(let reply):
                if !absorbed.contains(index) && !reply.answers(request) {
                    failure = failure ?? JobError("worker \(workers[index].address) answered \(what) with \(reply.summary)")
                }
                replies[index] = reply
            case .failure(let error as WorkerLost):
                lost.append((index, error))
            case .failure(let error):
                failure = failure ?? JobError("worker \(workers[index].address) failed during \(what): \(error)")
            }
        }
        for (index, error) in lost { markLost(index, error) }
        if let failure { throw failure }
        if !lost.isEmpty && !keepLost { throw WorkersLost(workers: lost.map(\.0)) }
        return replies
    }

    /// One worker's answer to a broadcast.
    private struct Outcome: Sendable {
        var index: Int
        var result: Result<WorkerReply, any Error>
    }

    /// The indices of the live workers, in order.
    var liveWorkers: [Int] { workers.indices.filter { alive[$0] } }

    var currentPhase = (layer: 0, phase: "start")

    func report() {
        progress?.phase(layer: currentPhase.layer, currentPhase.phase,
                        workers: workers.indices.map { "w\($0) \(alive[$0] ? states[$0] : "lost")" })
    }
}
