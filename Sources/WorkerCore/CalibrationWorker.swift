import Checkpoint
import Foundation
import JobProtocol
import Kernels
import Model
import ModelConfiguration
import Tensors

/// A worker's side of a calibration job: its share of the samples' hidden states, the layer
/// being calibrated, and the arithmetic the coordinator asks for (`handle`).
///
/// One request at a time, in the order the job sends them: start → per layer (load →
/// per stage: capture → solve → apply) → finish. Requests out of turn are refused with a
/// `WorkerError` naming what was expected. Not thread-safe: one thread drives a worker.
public final class CalibrationWorker {
    /// Rows per statistics batch, counted from the start of each sequence: the batches are a
    /// function of the sequence alone, so statistics merged from any split of the samples over
    /// workers sum the same per-batch products (see `accumulate`).
    public static let statisticsChunk = 512

    private var job: WorkerJob?
    private var config: ModelConfig?
    private var source: (any WeightSource)?
    private var executor: LayerExecutor?
    /// The loaded layer's original weights.
    private var layer: LayerWeights?
    /// Hidden states at the input of layer `savedLayer` (the loaded layer, or the last one run):
    /// capture-first apply replays the layer from them, and `rewind` returns to them.
    private var savedStates: HiddenStates?
    private var savedLayer: Int?
    /// Layers run to the end (their `.down` applied): the hidden states are layer `completedLayers`'s input.
    private var completedLayers = 0
    /// The global samples of each statistics block, in the order the hidden states hold them:
    /// every block is a run of the global sample order, the same however the samples were dealt out.
    private var blocks: [Range<Int>] = []
    /// Samples taken over from a lost worker, replaying the completed layers until `mergeAdopted`.
    private var adopted: CalibrationWorker?
    private var summary = WorkerSummary(peakResidentBytes: 0, forwardSeconds: 0, statisticsSeconds: 0, solveSeconds: 0)

    /// Where this worker may read a job's model from.
    private let models: ModelDirectories
    /// Bytes this worker may plan to hold for a job's samples (`LayerExecutor.calibrationBytes`).
    private let memoryLimit: Int

    /// - Parameter memoryLimit: the bytes of samples' state a job may need here (default: the
    ///   machine's physical memory); a job that needs more is refused before anything is allocated.
    public init(models: ModelDirectories = .any, memoryLimit: Int = ProcessMemory.physicalBytes) {
        self.models = models
        self.memoryLimit = memoryLimit
    }

    /// Carries out one request.
    /// - Throws: `WorkerError` for a request out of turn; errors of the model, the kernels or
    ///   the checkpoint (naming layer, module or tensor) for bad input.
    public func handle(_ request: WorkerRequest) throws -> WorkerReply {
        // The job's thread count, for this worker's work only (embedded workers share a process).
        var threads = job?.threads ?? 0
        if case .start(let starting, _) = request, self.job == nil { threads = starting.threads }
        guard threads > 0, ComputeThreads.taskCount != threads else { return try perform(request) }
        return try ComputeThreads.$taskCount.withValue(threads) { try perform(request) }
    }

    private func perform(_ request: WorkerRequest) throws -> WorkerReply {
        switch request {
        case .start(let job, let embeddings):
            return .started(tokens: try start(job, embeddings: embeddings))
        case .loadLayer(let index, let weights):
            try loadLayer(index, streamed: weights)
            return .loaded(layer: index)
        case .capture(let layer, let stages):
            return .statistics(layer: layer, try capture(layer: layer, stages: stages))
        case .fold(let layer, let fold):
            try self.fold(layer: layer, fold)
            return .folded(layer: layer)
        case .evaluateScales(let search):
            return .losses(try evaluate(search))
        case .solve(let task):
            var solving = task
            let factor = try makeFactor(&solving)
            return .solved(layer: task.layer, try solve(solving), factor: factor)
        case .apply(let layer, let stage, let weights):
            try apply(layer: layer, stage: stage, weights: weights)
            return .applied(layer: layer, stage: stage)
        case .finish:
            summary.peakResidentBytes = ProcessMemory.peakResidentBytes ?? 0
            (summary.blasCore, summary.blasThreads) = (BLAS.coreName, BLAS.threadCount)
            let result = summary
            (job, source, executor, layer, savedStates, adopted) = (nil, nil, nil, nil, nil, nil)
            return .finished(result)
        case .rewind(let layer):
            try rewind(to: layer)
            return .rewound(layer: layer)
        case .adopt(let samples):
            return .adopted(tokens: try adopt(samples))
        case .replay(let replay):
            try self.replay(replay)
            return .replayed(layer: replay.layer)
        case .mergeAdopted:
            return .merged(tokens: try mergeAdopted())
        case .release(let runs, let states):
            let (tokens, released) = try release(runs, states: states)
            return .released(tokens: tokens, states: released)
        }
    }

    // MARK: - Start and load

    /// - Parameter blocks: the global samples of each statistics block (default:
    ///   `job.statisticsBlock` at a time from `job.firstSample`, which starts a block).
    private func start(_ job: WorkerJob, embeddings: Tensor?, blocks: [Range<Int>]? = nil) throws -> Int {
        if let running = self.job { throw WorkerError("job \(job.jobID): this worker already runs job \(running.jobID)") }
        guard job.statisticsBlock >= 1 else { throw WorkerError("job \(job.jobID): statistics block \(job.statisticsBlock) is not positive") }
        let count = job.sequences.count
        self.blocks = blocks ?? stride(from: 0, to: count, by: job.statisticsBlock).map {
            (job.firstSample + $0)..<(job.firstSample + min($0 + job.statisticsBlock, count))
        }
        let config = try ModelConfig(parsing: Data(job.configJSON), file: "config.json of job \(job.jobID)")
        let lengths = job.sequences.map(\.count)
        let tokenCount = lengths.reduce(0, +)
        // The samples' state, sized from the config and the token count, against this machine.
        let needed = LayerExecutor.calibrationBytes(config: config, tokens: tokenCount)
        guard let needed, needed <= memoryLimit else {
            throw WorkerError("job \(job.jobID): \(tokenCount) tokens of this model need \(needed.map { "\($0 / 1_000_000) MB" } ?? "more bytes than an Int holds") "
                              + "of hidden states and stage buffer here, more than this worker's \(memoryLimit / 1_000_000) MB: give it fewer samples (more workers or a smaller --samples)")
        }
        let tokens = job.sequences.flatMap { $0 }
        var states: Matrix
        if let requested = job.modelPath {
            let modelPath = try models.check(requested, job: job.jobID)
            let reader: CheckpointReader
            do {
                reader = try CheckpointReader(path: modelPath)
            } catch {
                throw WorkerError("job \(job.jobID): this worker cannot read the model at \(modelPath) (\(error)); "
                                  + "give every worker the same path, or run the coordinator with --stream-weights")
            }
            let source = CheckpointWeightSource(config: config, reader: reader)
            // The job's config against the tensors on this worker's disk, before anything is sized from it.
            try source.checkLayout()
            states = try source.embeddings(of: tokens)
            self.source = source
        } else {
            guard let embeddings, embeddings.shape == [tokens.count, config.hiddenSize] else {
                throw WorkerError("job \(job.jobID): streamed embeddings must be [\(tokens.count), \(config.hiddenSize)], found \(embeddings?.shape.description ?? "none")")
            }
            states = Matrix(rows: tokens.count, columns: config.hiddenSize, values: embeddings.floats())
        }
        if tokens.isEmpty { states = Matrix(rows: 0, columns: config.hiddenSize) }
        self.job = job
        self.config = config
        if !lengths.isEmpty {
            let batch = try SequenceBatch(lengths: lengths)
            // One sequence per product: results independent of how samples are split over workers.
            executor = try LayerExecutor(config: config, states: HiddenStates(batch: batch, values: states),
                                         options: ExecutionOptions(chunkTokens: Self.statisticsChunk, packSequences: false))
        }
        return tokens.count
    }

    private func loadLayer(_ index: Int, streamed: [String: Tensor]?) throws {
        guard let config else { throw WorkerError("layer \(index): no job started") }
        if let loaded = layer { throw WorkerError("layer \(index): layer \(loaded.index) is still loaded") }
        let weights: LayerWeights
        if let streamed {
            weights = try CheckpointWeightSource(config: config, store: InMemoryTensorStore(streamed, label: "layer \(index) as streamed")).layer(index)
        } else if let source {
            weights = try source.layer(index)
            source.releaseLayer(index)
            // Read from disk while this layer is captured, solved and applied.
            source.prefetchLayer(index + 1)
        } else {
            throw WorkerError("layer \(index): this worker has no model path and no weights were streamed")
        }
        layer = weights
        guard let executor, let job else { return }
        savedStates = executor.states
        savedLayer = index
        if job.trueSequential {
            try timedForward { try executor.begin(weights) }
        }
    }

    // MARK: - Capture

    private func capture(layer index: Int, stages: [LayerStage]) throws -> [ActivationStatistics] {
        let (config, weights) = try loaded(index)
        var statistics = stages.map { ActivationStatistics(columns: $0.inputWidth(config)) }
        guard let executor, let job else { return statistics }
        let names = stages.map { "\(LayerWeights.tensorName(layer: index, $0.linearNames.joined(separator: "+")))" }
        if job.trueSequential {
            guard stages.count == 1, let stage = stages.first else {
                throw WorkerError("layer \(index): true-sequential capture takes one stage at a time, got \(stages)")
            }
            try executor.withStageInput(stage) { input in
                try timedStatistics {
                    try accumulateBlocks(input, batch: executor.batch, into: &statistics[0], layer: index, module: names[0])
                }
            }
        } else {
            guard stages == LayerStage.allCases else {
                throw WorkerError("layer \(index): capture with the original weights takes every stage at once, got \(stages)")
            }
            try timedForward {
                try executor.forward(weights) { input in
                    let position = input.stage.rawValue
                    try self.timedStatistics {
                        try self.accumulate(input, batch: executor.batch, into: &statistics[position], layer: index, module: names[position])
                    }
                }
            }
        }
        return statistics
    }

    /// Adds every row (all tokens of the batch, contiguous) to `statistics` one statistics block
    /// (`blocks`) at a time. The coordinator deals out whole blocks of the global sample
    /// order, so the batches — and the Float products computed per batch — are the same however
    /// the samples are split or reassigned. Larger batches spread the per-batch cost of the exact
    /// sums (one fixed-point conversion per XᵀX entry) over more tokens.
    private func accumulateBlocks(_ input: StageInput, batch: SequenceBatch, into statistics: inout ActivationStatistics,
                                  layer: Int, module: String) throws {
        var first = 0
        for length in blocks.map(\.count) {
            defer { first += length }
            let last = first + length - 1
            let (start, stop) = (batch.offsets[first], batch.offsets[last] + batch.lengths[last])
            let slice = UnsafeBufferPointer(rebasing: input.values[(start * input.width)..<(stop * input.width)])
            try statistics.accumulate(slice, rows: stop - start, layer: layer, module: module)
        }
    }

    /// Adds the rows of `input` (a piece of a forward) to `statistics` in batches that never cross
    /// a sequence and that restart every `statisticsChunk` rows from each sequence's first token.
    private func accumulate(_ input: StageInput, batch: SequenceBatch, into statistics: inout ActivationStatistics,
                            layer: Int, module: String) throws {
        var row = input.firstToken
        let end = input.firstToken + input.rows
        var sequence = batch.offsets.lastIndex { $0 <= row } ?? 0
        while row < end {
            while sequence + 1 < batch.count && batch.offsets[sequence + 1] <= row { sequence += 1 }
            let sequenceStart = batch.offsets[sequence]
            let chunkEnd = sequenceStart + ((row - sequenceStart) / Self.statisticsChunk + 1) * Self.statisticsChunk
            let stop = min(end, sequenceStart + batch.lengths[sequence], chunkEnd)
            let slice = UnsafeBufferPointer(rebasing: input.values[((row - input.firstToken) * input.width)..<((stop - input.firstToken) * input.width)])
            try statistics.accumulate(slice, rows: stop - row, layer: layer, module: module)
            row = stop
        }
    }

    // MARK: - Solve

    /// Makes the task's GPTQ factor from the Hessian it was sent, if it was (the coordinator did
    /// not make it), and reports its damping and seconds.
    private func makeFactor(_ task: inout SolveTask) throws -> FactorReport? {
        guard let request = task.factorFrom else { return nil }
        let start = ExecutionProfile.now()
        let factor = try GPTQ.prepareFactor(hessian: request.hessian, options: request.options, name: "layer \(task.layer) \(task.stage)")
        let seconds = ExecutionProfile.now() - start
        summary.solveSeconds += seconds
        (task.factor, task.factorFrom) = (factor, nil)
        return FactorReport(dampingPercent: factor.dampingPercent, dampingRetries: factor.dampingRetries, seconds: seconds)
    }

    private func solve(_ task: SolveTask) throws -> [SolvedPiece] {
        let (_, weights) = try loaded(task.layer)
        let linears = weights.linears(of: task.stage)
        let start = ExecutionProfile.now()
        defer { summary.solveSeconds += ExecutionProfile.now() - start }
        return try task.pieces.map { piece in
            guard linears.indices.contains(piece.linear) else {
                throw WorkerError("layer \(task.layer) stage \(task.stage): no linear \(piece.linear)")
            }
            let name = LayerWeights.tensorName(layer: task.layer, task.stage.linearNames[piece.linear])
            let matrix = linears[piece.linear].weight
            guard piece.rows.lowerBound >= 0, piece.rows.upperBound <= matrix.rows, !piece.rows.isEmpty else {
                throw WorkerError("\(name): rows \(piece.rows) are outside 0..<\(matrix.rows)")
            }
            let rows = Matrix(rows: piece.rows.count, columns: matrix.columns,
                              values: Array(matrix.values[(piece.rows.lowerBound * matrix.columns)..<(piece.rows.upperBound * matrix.columns)]))
            let started = ExecutionProfile.now()
            let result = try solve(rows, firstRow: piece.rows.lowerBound, clip: piece.clip, task: task, name: name)
            return SolvedPiece(linear: piece.linear, result: result, seconds: ExecutionProfile.now() - started)
        }
    }

    private func solve(_ rows: Matrix, firstRow: Int, clip: Bool, task: SolveTask, name: String) throws -> GPTQSolveResult {
        switch task.method {
        case .gptq:
            guard let factor = task.factor else { throw WorkerError("\(name): a GPTQ solve needs the factor of H⁻¹") }
            return try GPTQ.solve(GPTQSolveRequest(firstRow: firstRow, weights: rows, options: task.options), factor: factor, name: name)
        case .rtn:
            guard let hessian = task.hessian else { throw WorkerError("\(name): an RTN task needs the Hessian for its loss") }
            let clipped = clip ? try AWQ.clip(rows, gram: hessian.map(Double.init), scheme: task.options.scheme).0 : rows
            let quantized = try RoundToNearest.quantize(clipped, scheme: task.options.scheme, clipping: task.options.clipping, name: name)
            let losses = ErrorMetrics.rowLosses(original: rows, quantized: quantized.dequantized(), hessian: hessian)
            return GPTQSolveResult(firstRow: firstRow, quantized: quantized, rowLosses: losses)
        }
    }

    // MARK: - Fold and scale search

    private func fold(layer index: Int, _ fold: LayerFold) throws {
        let (_, weights) = try loaded(index)
        let folded = try weights.folded(fold)
        layer = folded
        guard let executor, let job, job.trueSequential, let stage = executor.nextStage else { return }
        // The ready stage's input was computed with the unfolded op before it: compute it again.
        if fold.inputScales(of: stage) != nil {
            try timedForward { try executor.resume(folded, at: stage) }
        }
    }

    /// Runs each candidate through the group's block from this layer's input and sums the squared
    /// error of the block's output against the unquantized block.
    private func evaluate(_ search: ScaleSearch) throws -> ScaleLosses {
        if search.group.isOutputGroup { return search.gram == nil ? try evaluateOnSamples(search) : try evaluateOnRows(search) }
        let (config, weights) = try loaded(search.layer)
        guard let executor else { return ScaleLosses(sums: search.candidates.map { _ in 0 }, elements: 0) }
        guard let input = savedStates else {
            throw WorkerError("layer \(search.layer): scale search needs the layer captured with its original weights first")
        }
        let stage: LayerStage = search.group == .attentionInput ? .qkv : .gateUp
        let width = stage.inputWidth(config)
        try Self.checkCandidates(search, width: width, context: "layer \(search.layer) \(search.group)")
        defer { executor.restore(input) }
        return try timedForwardResult {
            // The block's input state: the layer input (attention), or the residual after the
            // original attention block (MLP).
            executor.restore(input)
            if stage == .gateUp {
                try executor.begin(weights)
                try executor.apply(.qkv)
                try executor.apply(.o)
            }
            let start = executor.states
            let reference = try run(stage, weights, from: start)
            var sums: [Int128] = []
            for scales in search.candidates {
                var candidate = weights
                candidate.replaceWeights(of: stage, with: try weights.linears(of: stage).map {
                    try AWQ.candidate($0.weight, scales: scales, scheme: search.scheme)
                })
                let output = try run(stage, candidate, from: start)
                sums.append(ErrorMetrics.squaredError(output, reference, segments: executor.batch.rowRanges))
            }
            return ScaleLosses(sums: sums, elements: executor.batch.tokenCount * config.hiddenSize)
        }
    }

    /// An output group's candidates on this worker's samples: the linear's input computed once
    /// from the layer input with the original weights, then X·(C − W)ᵀ per candidate, one summand
    /// per sequence.
    private func evaluateOnSamples(_ search: ScaleSearch) throws -> ScaleLosses {
        let (_, weights) = try loaded(search.layer)
        let (name, stage, matrix) = search.group == .attentionOutput ? ("o_proj", LayerStage.o, weights.o.weight) : ("down_proj", .down, weights.down.weight)
        let context = "layer \(search.layer) \(search.group) (\(name))"
        try Self.checkCandidates(search, width: matrix.columns, context: context)
        guard search.rows.isEmpty else { throw WorkerError("\(context): rows \(search.rows) given without XᵀX") }
        guard let executor else { return ScaleLosses(sums: search.candidates.map { _ in 0 }, elements: 0) }
        guard let input = savedStates else {
            throw WorkerError("layer \(search.layer): scale search needs the layer captured with its original weights first")
        }
        defer {
            executor.abandonLayer()
            executor.restore(input)
        }
        return try timedForwardResult {
            executor.restore(input)
            try executor.begin(weights)
            for earlier in LayerStage.allCases.prefix(while: { $0 != stage }) { try executor.apply(earlier) }
            let batch = executor.batch
            let sequences = (0..<batch.count).map { batch.offsets[$0]..<(batch.offsets[$0] + batch.lengths[$0]) }
            let sums = try executor.withStageInput(stage) { x in
                try search.candidates.map { scales in
                    AWQ.outputErrorSum(try AWQ.candidate(matrix, scales: scales, scheme: search.scheme), matrix, inputs: x.values.baseAddress!, ranges: sequences)
                }
            }
            return ScaleLosses(sums: sums, elements: batch.tokenCount * matrix.rows)
        }
    }

    /// An output group's candidates on this worker's rows of o_proj or down_proj, from XᵀX.
    private func evaluateOnRows(_ search: ScaleSearch) throws -> ScaleLosses {
        let (_, weights) = try loaded(search.layer)
        let (name, matrix) = search.group == .attentionOutput ? ("o_proj", weights.o.weight) : ("down_proj", weights.down.weight)
        let context = "layer \(search.layer) \(search.group) (\(name))"
        let k = matrix.columns
        guard let gram = search.gram, gram.dtype == .f64, gram.shape == [k, k] else {
            throw WorkerError("\(context): needs XᵀX as F64 [\(k), \(k)]; got \(search.gram.map { "\($0.dtype) \($0.shape)" } ?? "none")")
        }
        try Self.checkCandidates(search, width: k, context: context)
        for range in search.rows where range.isEmpty || range.lowerBound < 0 || range.upperBound > matrix.rows || range.lowerBound % AWQ.errorRowTile != 0 {
            throw WorkerError("\(context): rows \(range) are not a non-empty range of 0..<\(matrix.rows) starting on a multiple of \(AWQ.errorRowTile)")
        }
        let start = ExecutionProfile.now()
        defer { summary.solveSeconds += ExecutionProfile.now() - start }
        let pieces = search.rows.map { range in
            (range.lowerBound, Matrix(rows: range.count, columns: k, values: Array(matrix.values[(range.lowerBound * k)..<(range.upperBound * k)])))
        }
        let evaluate = { (gram: UnsafeBufferPointer<Double>) throws -> [Int128] in
            try search.candidates.map { scales in
                try pieces.reduce(Int128(0)) { total, piece in
                    total &+ AWQ.outputErrorSum(try AWQ.candidate(piece.1, scales: scales, scheme: search.scheme), piece.1, gram: gram, firstRow: piece.0)
                }
            }
        }
        // Received frames and F64 tensors made here are 8-byte aligned; anything else is copied.
        let sums = try gram.withUnsafeBytes { bytes in
            Int(bitPattern: bytes.baseAddress) % MemoryLayout<Double>.alignment == 0
                ? try evaluate(bytes.assumingMemoryBound(to: Double.self))
                : try gram.doubles().withUnsafeBufferPointer { try evaluate($0) }
        }
        return ScaleLosses(sums: sums, elements: search.rows.reduce(0) { $0 + $1.count })
    }

    /// Every candidate of `search` has one scale per input channel of the group (`width`).
    private static func checkCandidates(_ search: ScaleSearch, width: Int, context: String) throws {
        if let bad = search.candidates.firstIndex(where: { $0.count != width }) {
            throw WorkerError("\(context): candidate \(bad) has \(search.candidates[bad].count) scales, expected \(width)")
        }
    }

    /// The hidden states after the block starting at `stage` (attention: qkv + o; MLP: gate/up + down).
    private func run(_ stage: LayerStage, _ weights: LayerWeights, from start: HiddenStates) throws -> Matrix {
        guard let executor else { throw WorkerError("no samples") }
        executor.restore(start)
        try executor.resume(weights, at: stage)
        try executor.apply(stage)
        try executor.apply(stage.next!)
        executor.abandonLayer()
        return executor.states.values
    }

    // MARK: - Apply

    private func apply(layer index: Int, stage: LayerStage, weights replacement: [QuantizedWeights?]) throws {
        let (_, weights) = try loaded(index)
        let originals = weights.linears(of: stage)
        guard replacement.count == originals.count else {
            throw WorkerError("layer \(index) stage \(stage): \(originals.count) linears, got \(replacement.count) weights")
        }
        let matrices = zip(replacement, originals).map { quantized, original in quantized?.dequantized() ?? original.weight }
        guard let executor, let job else {
            if stage == .down { finishLayer() }
            return
        }
        try timedForward {
            if !job.trueSequential && stage == .qkv {
                guard let saved = savedStates else { throw WorkerError("layer \(index): no saved hidden states to replay") }
                executor.restore(saved)
                try executor.begin(weights)
            }
            try executor.apply(stage, weights: matrices)
        }
        if stage == .down { finishLayer() }
    }

    /// The loaded layer is done: its input stays saved (`rewind` may return to it) until the next load.
    private func finishLayer() {
        layer = nil
        completedLayers += 1
    }

    // MARK: - Recovery

    private func rewind(to index: Int) throws {
        guard config != nil else { throw WorkerError("rewind to layer \(index): no job started") }
        adopted = nil
        guard executor != nil else {
            // No samples, no hidden states: this worker is at any layer's input.
            layer = nil
            completedLayers = index
            return
        }
        let inProgress = layer != nil
        switch completedLayers {
        case index where !inProgress:
            return
        case index, index + 1:
            // Layer `index` loaded (part of it run), or run to the end: back to its input.
            guard let executor, savedLayer == index, let saved = savedStates else {
                throw WorkerError("rewind to layer \(index): the input of layer \(index) is not saved (saved: \(savedLayer.map(String.init) ?? "none"))")
            }
            executor.restore(saved)
            layer = nil
            completedLayers = index
        default:
            throw WorkerError("rewind to layer \(index): the hidden states are at layer \(completedLayers)\(inProgress ? " (in progress)" : "")")
        }
    }

    private func adopt(_ samples: AdoptedSamples) throws -> Int {
        guard let job else { throw WorkerError("adopt: no job started") }
        guard let config else { throw WorkerError("adopt: no job started") }
        var units: [Range<Int>] = []
        for range in samples.blocks {
            guard !range.isEmpty, range.lowerBound >= 0, range.lowerBound % job.statisticsBlock == 0 else {
                throw WorkerError("adopt: samples \(range) are not a run of whole blocks of \(job.statisticsBlock)")
            }
            units += stride(from: range.lowerBound, to: range.upperBound, by: job.statisticsBlock).map { $0..<min($0 + job.statisticsBlock, range.upperBound) }
        }
        let count = units.reduce(0) { $0 + $1.count }
        guard count == samples.sequences.count else {
            throw WorkerError("adopt: blocks \(samples.blocks) hold \(count) samples, \(samples.sequences.count) sequences given")
        }
        var part = job
        part.sequences = samples.sequences
        part.firstSample = samples.blocks.first?.lowerBound ?? 0
        let worker = CalibrationWorker(models: models, memoryLimit: memoryLimit)
        let tokens: Int
        if let states = samples.states {
            // Released by another worker at this worker's layer boundary: nothing to replay.
            guard layer == nil else { throw WorkerError("adopt with hidden states: layer \(layer?.index ?? 0) is in progress") }
            let rows = samples.sequences.reduce(0) { $0 + $1.count }
            guard states.dtype == .f32, states.shape == [rows, config.hiddenSize] else {
                throw WorkerError("adopt: hidden states must be F32 [\(rows), \(config.hiddenSize)], found \(states.dtype) \(states.shape)")
            }
            part.modelPath = nil
            tokens = try worker.start(part, embeddings: states, blocks: units)
            worker.completedLayers = completedLayers
        } else {
            tokens = try worker.start(part, embeddings: samples.embeddings, blocks: units)
        }
        adopted = worker
        return tokens
    }

    private func replay(_ replay: LayerReplay) throws {
        guard let worker = adopted else { throw WorkerError("replay of layer \(replay.layer): no adopted samples") }
        guard replay.layer == worker.completedLayers else {
            throw WorkerError("replay of layer \(replay.layer): the adopted samples are at layer \(worker.completedLayers)")
        }
        _ = try worker.handle(.loadLayer(index: replay.layer, weights: replay.weights))
        for step in replay.steps {
            switch step {
            case .fold(let fold): _ = try worker.handle(.fold(layer: replay.layer, fold))
            case .apply(let stage, let weights): _ = try worker.handle(.apply(layer: replay.layer, stage: stage, weights: weights))
            }
        }
        guard worker.completedLayers == replay.layer + 1 else {
            throw WorkerError("replay of layer \(replay.layer): its steps end before down_proj is applied")
        }
    }

    private func mergeAdopted() throws -> Int {
        guard let config, let worker = adopted else { throw WorkerError("merge: no adopted samples") }
        guard layer == nil, worker.layer == nil, worker.completedLayers == completedLayers else {
            throw WorkerError("merge: the adopted samples are at layer \(worker.completedLayers), this worker's at layer \(completedLayers)\(layer == nil ? "" : " (in progress)")")
        }
        if let theirs = worker.executor {
            if let ours = executor {
                let (a, b) = (ours.states, theirs.states)
                let values = Matrix(rows: a.values.rows + b.values.rows, columns: config.hiddenSize, values: a.values.values + b.values.values)
                let states = try HiddenStates(batch: try SequenceBatch(lengths: a.batch.lengths + b.batch.lengths), values: values)
                executor = try LayerExecutor(config: config, states: states, options: ours.options)
            } else {
                executor = theirs
            }
        }
        blocks += worker.blocks
        summary.forwardSeconds += worker.summary.forwardSeconds
        (savedStates, savedLayer, adopted) = (nil, nil, nil)
        return executor?.batch.tokenCount ?? 0
    }

    // MARK: - Rebalancing

    /// Drops the samples of `runs` (whole blocks this worker holds), between layers; returns
    /// their token count and, with `states`, their hidden states in the order of `runs`.
    private func release(_ runs: [Range<Int>], states: Bool) throws -> (Int, Tensor?) {
        guard let config else { throw WorkerError("release: no job started") }
        guard layer == nil, adopted == nil else {
            throw WorkerError("release: only between layers (\(layer.map { "layer \($0.index) is loaded" } ?? "adopted samples are not merged"))")
        }
        // Which held blocks, in the order asked for.
        var chosen: [Int] = []
        for run in runs {
            var next = run.lowerBound
            while next < run.upperBound {
                guard let position = blocks.firstIndex(where: { $0.lowerBound == next }), blocks[position].upperBound <= run.upperBound else {
                    throw WorkerError("release: samples \(run) are not whole blocks this worker holds (it holds \(blocks))")
                }
                chosen.append(position)
                next = blocks[position].upperBound
            }
        }
        guard Set(chosen).count == chosen.count else { throw WorkerError("release: \(runs) names a block twice") }
        guard !chosen.isEmpty, let executor else { return (0, states ? Tensor(floats: [], shape: [0, config.hiddenSize]) : nil) }
        let current = executor.states
        let width = config.hiddenSize
        // Token rows of each held block.
        var rows: [Range<Int>] = []
        var sequence = 0
        for block in blocks {
            let first = current.batch.offsets[sequence]
            let last = sequence + block.count - 1
            rows.append(first..<(current.batch.offsets[last] + current.batch.lengths[last]))
            sequence += block.count
        }
        var sequenceRanges: [Range<Int>] = []
        sequence = 0
        for block in blocks {
            sequenceRanges.append(sequence..<(sequence + block.count))
            sequence += block.count
        }
        let released = Set(chosen)
        var kept: [Float] = []
        var keptLengths: [Int] = []
        var keptBlocks: [Range<Int>] = []
        for position in blocks.indices where !released.contains(position) {
            kept += current.values.values[(rows[position].lowerBound * width)..<(rows[position].upperBound * width)]
            keptLengths += current.batch.lengths[sequenceRanges[position]]
            keptBlocks.append(blocks[position])
        }
        var out: [Float] = []
        var tokens = 0
        for position in chosen {
            tokens += rows[position].count
            if states { out += current.values.values[(rows[position].lowerBound * width)..<(rows[position].upperBound * width)] }
        }
        blocks = keptBlocks
        if keptLengths.isEmpty {
            self.executor = nil
        } else {
            let remaining = try HiddenStates(batch: try SequenceBatch(lengths: keptLengths),
                                             values: Matrix(rows: kept.count / width, columns: width, values: kept))
            self.executor = try LayerExecutor(config: config, states: remaining, options: executor.options)
        }
        // The saved input is of the samples held before.
        (savedStates, savedLayer) = (nil, nil)
        return (tokens, states ? Tensor(floats: out, shape: [tokens, width]) : nil)
    }

    // MARK: - Helpers

    private func loaded(_ index: Int) throws -> (ModelConfig, LayerWeights) {
        guard let config else { throw WorkerError("layer \(index): no job started") }
        guard let layer, layer.index == index else {
            throw WorkerError("layer \(index): not loaded (loaded: \(self.layer.map { String($0.index) } ?? "none"))")
        }
        return (config, layer)
    }

    private func timedForward(_ body: () throws -> Void) throws {
        let start = ExecutionProfile.now()
        defer { summary.forwardSeconds += ExecutionProfile.now() - start }
        try body()
    }

    private func timedForwardResult<R>(_ body: () throws -> R) throws -> R {
        let start = ExecutionProfile.now()
        defer { summary.forwardSeconds += ExecutionProfile.now() - start }
        return try body()
    }

    private func timedStatistics(_ body: () throws -> Void) throws {
        let start = ExecutionProfile.now()
        defer { summary.statisticsSeconds += ExecutionProfile.now() - start }
        try body()
    }
}
