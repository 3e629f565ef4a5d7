import Kernels
import Model
import ModelConfiguration

/// What a calibration run will cost before any work is done: seconds per phase of a layer, bytes
/// on every link, peak memory per process — from the model's shapes, the recipe, the cluster's
/// size and rates (measured on this machine by `coordinator plan`, or given for other hardware).
///
/// The model follows the driver as it is (`CalibrationJob.calibrate`): a layer's steps run one
/// after another, each a broadcast that waits for every worker, so the critical path is the sum
/// of the phases, and each phase is the sum of its parts on the resources it waits for:
///
/// | phase   | workers (in parallel, the largest share)      | the coordinator's link (shared)             | the coordinator's CPU                |
/// |---------|-----------------------------------------------|---------------------------------------------|--------------------------------------|
/// | load    | the layer's weights to Float (memory rate)    | W × the layer's bytes when streamed         |                                      |
/// | capture | XᵀX of the stage input: K²·t; packing         | W × packed statistics (bytes per sum below) | unpacking W replies, one after another |
/// | merge   |                                               |                                             | W × the 16-byte sums (merge rate)    |
/// | solve   | GPTQ rows·K² of the largest piece set (and K³ when they make the factor) | a factor (or H) per solving worker; the codes back | the factor: K³ (GPTQ, made here) |
/// | apply   | the stage's forward pass on t tokens          | W × the quantized weights                   |                                      |
/// | write   |                                               |                                             | the layer's output bytes (disk rate) |
///
/// t is a worker's tokens (its samples × the sequence length: samples are split evenly, the
/// first workers taking one more). Every request also costs a round trip. Layers are alike in a
/// dense model, so one layer is planned and the job is that times the layers, plus the start
/// (the samples' tokens to every worker) and the copy of the tensors outside the layers.
public struct JobPlan: Sendable {
    /// The rates the plan divides by. Worker rates are one worker's (all its threads).
    public struct Rates: Sendable, Codable, Equatable {
        /// The forward pass, GFLOP/s counting `ForwardRate.flops` (measured on the forward's own code).
        public var forwardGFLOPS: Double
        /// XᵀX accumulation, GFLOP/s counting K² per row (`JobCost`'s convention).
        public var statisticsGFLOPS: Double
        /// GPTQ's solve, GFLOP/s counting K² per row (`SolvePlan`'s cost).
        public var solveGFLOPS: Double
        /// GPTQ's factor on the coordinator (Cholesky, inverse, Cholesky), GFLOP/s counting K³.
        public var factorGFLOPS: Double
        /// The same on one worker (nil: the coordinator's).
        public var workerFactorGFLOPS: Double?
        /// Bytes per second of the 16-byte sums: packed on a worker, unpacked and merged on the coordinator.
        public var packBytesPerSecond: Double
        public var unpackBytesPerSecond: Double
        public var mergeBytesPerSecond: Double
        /// Memory copy, bytes per second (converting a layer's weights to Float).
        public var memoryBytesPerSecond: Double
        /// Each worker's link and the coordinator's, bytes per second each way.
        public var workerLinkBytesPerSecond: Double
        public var coordinatorLinkBytesPerSecond: Double
        /// The coordinator's disk, writing.
        public var diskBytesPerSecond: Double
        /// One request's round trip without payload.
        public var roundTripSeconds: Double
        /// Packed statistics, bytes per sum (data-dependent: 5.1 measured on SmolLM2's activations,
        /// 4.2 on random inputs; 16 is the unpacked form's bound).
        public var packedBytesPerSum: Double

        public init(forwardGFLOPS: Double, statisticsGFLOPS: Double, solveGFLOPS: Double, factorGFLOPS: Double,
                    packBytesPerSecond: Double, unpackBytesPerSecond: Double, mergeBytesPerSecond: Double, memoryBytesPerSecond: Double,
                    workerLinkBytesPerSecond: Double, coordinatorLinkBytesPerSecond: Double, diskBytesPerSecond: Double,
                    roundTripSeconds: Double = 200e-6, packedBytesPerSum: Double = 5.1, workerFactorGFLOPS: Double? = nil) {
            self.workerFactorGFLOPS = workerFactorGFLOPS
            (self.forwardGFLOPS, self.statisticsGFLOPS, self.solveGFLOPS, self.factorGFLOPS) = (forwardGFLOPS, statisticsGFLOPS, solveGFLOPS, factorGFLOPS)
            (self.packBytesPerSecond, self.unpackBytesPerSecond, self.mergeBytesPerSecond, self.memoryBytesPerSecond) =
                (packBytesPerSecond, unpackBytesPerSecond, mergeBytesPerSecond, memoryBytesPerSecond)
            (self.workerLinkBytesPerSecond, self.coordinatorLinkBytesPerSecond, self.diskBytesPerSecond) =
                (workerLinkBytesPerSecond, coordinatorLinkBytesPerSecond, diskBytesPerSecond)
            (self.roundTripSeconds, self.packedBytesPerSum) = (roundTripSeconds, packedBytesPerSum)
        }
    }

    /// What a phase waits for.
    public enum Resource: String, Sendable, CaseIterable {
        case workers = "worker compute"
        case link = "coordinator link"
        case coordinator = "coordinator CPU"
        case disk = "coordinator disk"
        case latency = "round trips"
    }

    /// One phase of a layer: seconds on each resource (their sum is the phase's time).
    public struct Phase: Sendable, Equatable {
        public var name: String
        public var seconds: [Resource: Double]
        public var total: Double { seconds.values.reduce(0, +) }
    }

    /// Bytes one layer moves, from the coordinator's side (sent = to workers), by request kind.
    public struct Traffic: Sendable, Equatable {
        public var sent: [String: Double] = [:]
        public var received: [String: Double] = [:]
        public var totalSent: Double { sent.values.reduce(0, +) }
        public var totalReceived: Double { received.values.reduce(0, +) }
    }

    public let config: ModelConfig
    public let recipe: Recipe
    public let workers: Int
    public let rates: Rates
    /// The most samples one worker holds, and its tokens.
    public let samplesPerWorker: Int
    public var tokensPerWorker: Int { samplesPerWorker * recipe.sequenceLength }
    /// One layer's phases, in the driver's order.
    public private(set) var layer: [Phase] = []
    /// One layer's bytes through the coordinator's link (every worker's link carries its share).
    public private(set) var layerTraffic = Traffic()
    /// The start (samples to the workers) and the tensors outside the layers (copied to the output).
    public private(set) var startSeconds = 0.0
    public private(set) var finishSeconds = 0.0
    public private(set) var startBytes = 0.0
    /// Peak resident bytes of one worker and of the coordinator.
    public private(set) var workerPeakBytes = 0.0
    public private(set) var coordinatorPeakBytes = 0.0
    /// What the model leaves out, for the printout.
    public private(set) var notes: [String] = []
    /// Workers each stage is solved on (`SolvePlacement`), and the stages whose factor they make.
    public private(set) var solvers: [LayerStage: Int] = [:]
    public private(set) var factoredOnWorkers: Set<LayerStage> = []

    /// A process's memory before any data (runtime, libraries, tokenizer): ≈ 100 MiB measured
    /// for a SmolLM2 worker (its peak RSS at 64, 128 and 256 samples, less what they hold).
    public static let processBytes = 100.0 * 1_048_576

    /// The seconds of one layer and of the whole job.
    public var layerSeconds: Double { layer.reduce(0) { $0 + $1.total } }
    public var totalSeconds: Double { startSeconds + Double(config.numHiddenLayers) * layerSeconds + finishSeconds }

    /// Plans `recipe` on `config` over `workers` workers of `rates`.
    /// - Parameters:
    ///   - sourceBytesPerWeight: bytes of a weight in the checkpoint read (2 for bf16/f16).
    ///   - outsideLayerBytes: bytes of the tensors outside the layers (embeddings, final norm, head).
    ///   - solveWorkers: at most this many workers per solve (`JobInputs.solveWorkers`; nil: as the rates pay).
    ///   - factorOn: where GPTQ's factors are made (`.auto`: where the rates say it is faster, ties to the workers).
    public init(config: ModelConfig, recipe: Recipe, workers: Int, rates: Rates,
                sourceBytesPerWeight: Double = 2, outsideLayerBytes: Double? = nil, solveWorkers: Int? = nil, factorOn: FactorPlace = .auto) {
        precondition(workers > 0, "a plan needs a worker")
        (self.config, self.recipe, self.workers, self.rates) = (config, recipe, workers, rates)
        let w = Double(workers)
        samplesPerWorker = (recipe.samples + workers - 1) / workers
        let t = Double(samplesPerWorker * recipe.sequenceLength)
        let (h, q, kv) = (Double(config.hiddenSize), Double(config.queryWidth), Double(config.keyValueWidth))
        let link = rates.coordinatorLinkBytesPerSecond
        let shareOfLink = { (bytes: Double) in max(w * bytes / link, bytes / rates.workerLinkBytesPerSecond) }
        let weightsPerLayer = LayerStage.allCases.reduce(0.0) { sum, stage in
            sum + stage.weightShapes(config).reduce(0.0) { $0 + Double($1.rows * $1.columns) }
        }
        let layerSourceBytes = weightsPerLayer * sourceBytesPerWeight

        // Quantized bytes on the wire per weight: an Int8 code, and per group a Float scale and
        // an Int8 zero point (`QuantizedWeights.tensors()`); on disk, `bits` per weight and the
        // scale in the model's dtype (compressed-tensors' pack-quantized form).
        let groupLength = Double(recipe.groupSize > 0 ? recipe.groupSize : 1 << 30)
        let wireBytesPerWeight = 1 + 5 / groupLength
        let diskBytesPerWeight = Double(recipe.bits) / 8 + (sourceBytesPerWeight + (recipe.symmetric ? 0 : 1)) / groupLength

        var phases: [Phase] = []
        var traffic = Traffic()
        func add(_ name: String, _ seconds: [Resource: Double]) {
            if let index = phases.firstIndex(where: { $0.name == name }) {
                phases[index].seconds.merge(seconds, uniquingKeysWith: +)
            } else {
                phases.append(Phase(name: name, seconds: seconds))
            }
        }
        func move(_ kind: String, sent: Double = 0, received: Double = 0) {
            traffic.sent[kind, default: 0] += sent
            traffic.received[kind, default: 0] += received
        }

        let streamed = recipe.streamWeights ? layerSourceBytes : 0
        add("load", [.workers: weightsPerLayer * (sourceBytesPerWeight + 4) / rates.memoryBytesPerSecond,
                     .link: streamed > 0 ? shareOfLink(streamed) : 0, .latency: rates.roundTripSeconds])
        move("load", sent: w * streamed)

        let method = recipe.method
        if method == .awq || recipe.smoothQuant != nil {
            notes.append("\(method == .awq ? "AWQ's scale search" : "SmoothQuant's smoothing") is not modelled: the plan covers capture, solve and apply only")
        }
        if !recipe.trueSequential || method == .awq {
            notes.append("capture-first: all stages are captured at once, so their statistics are held together (memory below)")
        }
        var largestCapture = 0.0   // sums held at once by a worker
        var largestFactorColumns = 0.0
        var layerWireWeights = 0.0
        for stage in LayerStage.allCases {
            let k = Double(stage.inputWidth(config))
            let shapes = stage.weightShapes(config)
            let sums = k * (k + 1) / 2
            let sixteen = 16 * sums
            let packed = rates.packedBytesPerSum * sums + 12 * k   // + absmax, |x| and x² sums per column
            largestCapture = recipe.trueSequential && method != .awq ? max(largestCapture, sums) : largestCapture + sums
            largestFactorColumns = max(largestFactorColumns, k)

            add("capture", [.workers: k * k * t / (rates.statisticsGFLOPS * 1e9) + sixteen / rates.packBytesPerSecond,
                            .link: shareOfLink(packed), .coordinator: w * sixteen / rates.unpackBytesPerSecond,
                            .latency: rates.roundTripSeconds])
            move("capture", received: w * packed)
            add("merge", [.coordinator: w * sixteen / rates.mergeBytesPerSecond])

            // The solve: the factor (GPTQ; below, where), then the row pieces over
            // as many workers as pay for their copy of the factor (`SolvePlacement`, from these
            // rates, as the job decides from the rates its solves measure).
            let matrices = shapes.map { SolvePlan.Matrix(rows: $0.rows, columns: $0.columns) }
            let gptq = method == .gptq || (method == .awq && recipe.awqGPTQ)
            let factorBytes = SolvePlacement.bytesPerSolver(columns: stage.inputWidth(config), gptq: gptq)   // RTN sends the Hessian
            let placement = SolvePlacement(matrices: matrices, workers: workers, bytesPerSolver: factorBytes, rowAlignment: 256,
                                           rates: SolvePlacement.Rates(secondsPerByte: 1 / link, secondsPerCost: 1 / (rates.solveGFLOPS * 1e9)),
                                           limit: solveWorkers)
            solvers[stage] = placement.solvers
            var rowsByWorker: [Int: Double] = [:]
            for piece in placement.plan.pieces { rowsByWorker[piece.worker, default: 0] += Double(piece.rows.count) }
            let solverCount = Double(rowsByWorker.count)
            let maxRows = rowsByWorker.values.max() ?? 0
            let stageWeights = shapes.reduce(0.0) { $0 + Double($1.rows * $1.columns) }
            layerWireWeights += stageWeights
            let codes = stageWeights * wireBytesPerWeight + 8 * Double(shapes.reduce(0) { $0 + $1.rows })
            // The factor: on the coordinator, or on every solving worker at once (H sent instead,
            // the same bytes) — where it is faster unless told.
            let workerFactor = rates.workerFactorGFLOPS ?? rates.factorGFLOPS
            let onWorkers = gptq && (factorOn == .workers || (factorOn == .auto && workerFactor >= rates.factorGFLOPS))
            if onWorkers { factoredOnWorkers.insert(stage) }
            let factorSeconds = gptq ? k * k * k / ((onWorkers ? workerFactor : rates.factorGFLOPS) * 1e9) : 0
            add("solve", [.coordinator: onWorkers ? 0 : factorSeconds,
                          .link: max(solverCount * factorBytes / link, factorBytes / rates.workerLinkBytesPerSecond) + codes / link,
                          .workers: maxRows * k * k / (rates.solveGFLOPS * 1e9) + (onWorkers ? factorSeconds : 0), .latency: rates.roundTripSeconds])
            move("solve", sent: solverCount * factorBytes, received: codes)

            // Apply: the quantized weights to every worker, then the stage's forward pass.
            let forward = ForwardRate.flops(stage, config: config, tokens: t, sequenceLength: Double(recipe.sequenceLength))
            let quantized = stageWeights * wireBytesPerWeight
            add("apply", [.link: shareOfLink(quantized), .workers: forward / (rates.forwardGFLOPS * 1e9), .latency: rates.roundTripSeconds])
            move("apply", sent: w * quantized)
        }
        let outputBytes = weightsPerLayer * diskBytesPerWeight + (2 * h + (config.qkvBias ? q + 2 * kv : 0)) * sourceBytesPerWeight
        add("write", [.disk: outputBytes / rates.diskBytesPerSecond])
        layer = phases
        layerTraffic = traffic

        // The start: every worker's samples as Int32 tokens and the job (config.json and all,
        // ≈ 1 KB); with streamed weights also the samples' embedding rows, in Float.
        let vocabularyBytes = Double(config.vocabSize) * h * sourceBytesPerWeight
        let tokens = Double(recipe.samples * recipe.sequenceLength)
        startBytes = 4 * tokens + w * 1024 + (recipe.streamWeights ? 4 * tokens * h : 0)
        startSeconds = startBytes / link + t * h * 4 / rates.memoryBytesPerSecond + rates.roundTripSeconds
        let outside = outsideLayerBytes ?? vocabularyBytes * (config.tieWordEmbeddings ? 1 : 2) + h * sourceBytesPerWeight
        finishSeconds = outside / rates.diskBytesPerSecond

        // Memory. A worker: what it holds per token (`LayerExecutor.calibrationBytes`: the hidden
        // states, their saved copy — the layer's input, for replay and AWQ — and the widest stage
        // buffer), the layer in Float, the 16-byte sums of what it captures at once and their packed copy.
        workerPeakBytes = Self.processBytes + t * LayerExecutor.calibrationBytesPerToken(config: config) + weightsPerLayer * 4
            + largestCapture * (16 + rates.packedBytesPerSum)
        // The coordinator: every worker's reply decoded (16-byte sums; each is added into the first
        // as it arrives, so W copies when all arrive at once, fewer when they spread); for
        // the widest stage the factor's K×K Float working matrix and its packed triangle (6·K²
        // bytes), or only H's packed Float triangle (2·K²) when the workers make the factor; the
        // layer's quantized weights, and the output the shard writer buffers (up to the shard size).
        let k = largestFactorColumns
        let widestOnWorkers = LayerStage.allCases.contains { Double($0.inputWidth(config)) == k && factoredOnWorkers.contains($0) }
        let modelOutput = Double(config.numHiddenLayers) * (outputBytes) + outside
        coordinatorPeakBytes = Self.processBytes + w * 16 * largestCapture + (widestOnWorkers ? 2 : 6) * k * k
            + layerWireWeights * wireBytesPerWeight + min(Double(recipe.maxShardSize), modelOutput)
    }

    /// Seconds of one layer on each resource.
    public var layerSecondsByResource: [Resource: Double] {
        var seconds: [Resource: Double] = [:]
        for phase in layer { seconds.merge(phase.seconds, uniquingKeysWith: +) }
        return seconds
    }
}
