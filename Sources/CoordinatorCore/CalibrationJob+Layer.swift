import Checkpoint
import Formats
import Foundation
import JobProtocol
import Kernels
import Model
import ModelConfiguration
import Tensors

/// One layer of the job: load, the stages, the write.
extension CalibrationJob {
    /// A stage's quantized linears (nil where the recipe ignores the module) and their report lines.
    struct StageResult {
        var weights: [QuantizedWeights?]
        var modules: [JobReport.Module]
        /// Workers the stage was solved on (0: nothing to solve), and whether they made its factor.
        var solvers = 0
        var factoredOnWorkers = false
    }

    /// What the coordinator knows of the layer being calibrated: its original weights (loaded only
    /// when smoothing or AWQ needs them), the scales folded into it so far, each stage's input
    /// statistics (as the stage's linears see them now) and quantized result.
    struct LayerState {
        var index: Int
        var original: LayerWeights?
        var fold = LayerFold()
        /// AWQ: the searched scales, folded by `.foldSearched`.
        var searched = LayerFold()
        var statistics: [LayerStage: ActivationStatistics] = [:]
        var results: [LayerStage: StageResult] = [:]
        var ratios: [String: Double] = [:]
        var searchLosses: [String: [Double]] = [:]
    }

    /// Calibrates layer `layer` on every worker by its `LayerPlan` and adds its tensors to `writer`.
    /// - Returns: the layer's report, the names of the modules quantized and of the tensors written.
    func calibrate(layer: Int, writer: ShardedCheckpointWriter) async throws -> (JobReport.Layer, [String], [String]) {
        var timing = PhaseTimer()
        var state = LayerState(index: layer)
        layerEvents = []
        let plan = LayerPlan(recipe: inputs.recipe, config: config) { stage in
            stage.linearNames.contains { !inputs.recipe.ignores(LayerWeights.tensorName(layer: layer, $0)) }
        }
        if layer == 0 { notes += plan.notes }
        if inputs.recipe.method == .awq || inputs.recipe.smoothQuant != nil {
            state.original = try CheckpointWeightSource(config: config, reader: reader).layer(layer)
        }
        var written: (quantized: [String], tensors: [String]) = ([], [])
        for step in plan.steps {
            func statistics(_ stage: LayerStage) throws -> ActivationStatistics {
                guard let statistics = state.statistics[stage] else { throw JobError("layer \(layer): the plan reaches \(step) before capturing \(stage)") }
                return statistics
            }
            switch step {
            case .load:
                currentPhase = (layer, "load")
                let streamed = inputs.recipe.streamWeights ? try layerTensors(layer) : nil
                // The next layer's tensors are read from disk while this one is worked on.
                if inputs.recipe.streamWeights, layer + 1 < config.numHiddenLayers { CheckpointWeightSource.prefetch(layer: layer + 1, of: reader) }
                _ = try await timing.measure("load") { try await broadcast("load") { _ in .loadLayer(index: layer, weights: streamed) } }
            case .capture(let stages):
                let parts = try await capture(layer: layer, stages: stages, timing: &timing)
                for (stage, part) in zip(stages, parts) { state.statistics[stage] = part }
            case .smooth(let stage):
                state.statistics[stage] = try await smooth(stage, try statistics(stage), &state, timing: &timing)
            case .searchScales(let group):
                try await search(group, &state, timing: &timing)
            case .foldSearched:
                let fold = state.searched
                _ = try await timing.measure("search") { try await broadcast("fold") { _ in .fold(layer: layer, fold) } }
                layerEvents.append(.fold(fold))
                state.fold = state.fold.merging(fold)
                for stage in LayerStage.allCases {
                    if let scales = fold.inputScales(of: stage) { state.statistics[stage] = try statistics(stage).scaledInputs(by: scales.map { 1 / $0 }) }
                }
            case .quantize(let stage, let method, let clip):
                state.results[stage] = try await quantize(layer: layer, stage: stage, statistics: try statistics(stage), method: method, clip: clip, timing: &timing)
            case .apply(let stage):
                guard let result = state.results[stage] else { throw JobError("layer \(layer): the plan applies \(stage) before quantizing it") }
                try await apply(layer: layer, stage: stage, result: result, timing: &timing)
            case .write:
                currentPhase = (layer, "write")
                report()
                written = try timing.measureSync("write") { try write(state, to: writer) }
                replayLog.append(layerEvents)
            }
        }
        let modules = LayerStage.allCases.flatMap { state.results[$0]?.modules ?? [] }
        var report = JobReport.Layer(index: layer, seconds: timing.seconds, modules: modules, ratios: state.ratios, searchLosses: state.searchLosses)
        let solvers = state.results.filter { $0.value.solvers > 0 }
        if !solvers.isEmpty {
            report.solvers = Dictionary(uniqueKeysWithValues: solvers.map { ($0.key.description, $0.value.solvers) })
            let onWorkers = solvers.filter { $0.value.factoredOnWorkers }
            if !onWorkers.isEmpty { report.factoredOnWorkers = onWorkers.keys.map(\.description).sorted() }
        }
        return (report, written.quantized, written.tensors)
    }

    /// Statistics of `stages`' inputs, merged over the workers as their replies arrive: the sums
    /// are exact integers, so any order gives the same bits, and the coordinator holds one running
    /// sum a stage instead of every worker's copy until the last arrives. The "merge" phase is
    /// what is left after the last reply (the checks); the merging itself overlaps the capture.
    func capture(layer: Int, stages: [LayerStage], timing: inout PhaseTimer) async throws -> [ActivationStatistics] {
        currentPhase = (layer, "capture " + stages.map(\.description).joined(separator: "+"))
        var merged = [ActivationStatistics?](repeating: nil, count: stages.count)
        let replies = try await timing.measure("capture") {
            try await broadcast("capture", absorb: { index, reply in
                guard case .statistics(let answered, let parts) = reply, parts.count == stages.count else {
                    throw JobError("layer \(layer): worker \(self.workers[index].address) answered capture of \(stages.count) stage(s) with \(reply.summary)")
                }
                for (position, part) in parts.enumerated() {
                    // The first part is kept as it is (its reply is dropped: no copy), later ones added in place.
                    if merged[position] == nil { merged[position] = part } else { try merged[position]?.merge(part) }
                }
                return .statistics(layer: answered, [])
            }) { _ in .capture(layer: layer, stages: stages) }
        }
        return try timing.measureSync("merge") {
            for reply in replies.compactMap({ $0 }) {
                guard case .statistics = reply else { throw JobError("layer \(layer): a worker answered capture with \(reply.summary)") }
            }
            return try stages.indices.map { position in
                guard let statistics = merged[position] else { throw JobError("layer \(layer): no worker answered capture of \(stages[position])") }
                return statistics
            }
        }
    }

    /// Quantizes the stage's linears: the factor once, row pieces solved across the workers.
    /// - Parameters:
    ///   - method: GPTQ or round-to-nearest.
    ///   - clip: RTN only: which linears (by position) get AWQ's clip search first.
    func quantize(layer: Int, stage: LayerStage, statistics: ActivationStatistics, method: SolveTask.Method,
                  clip: Set<Int>, timing: inout PhaseTimer) async throws -> StageResult {
        currentPhase = (layer, "solve \(stage)")
        let names = stage.linearNames.map { LayerWeights.tensorName(layer: layer, $0) }
        let shapes = stage.weightShapes(config)
        let active = names.indices.filter { !inputs.recipe.ignores(names[$0]) }
        var result = StageResult(weights: names.map { _ in nil }, modules: [])
        guard !active.isEmpty else { return result }
        let context = "layer \(layer) \(stage)"
        let options = GPTQSolveOptions(scheme: try scheme(), staticGroups: inputs.recipe.actOrder)
        var factor: GPTQFactor?
        var factorFrom: FactorRequest?
        var hessian: [Float]?
        let k = stage.inputWidth(config)
        try timing.measureSync("solve") {
            switch method {
            case .gptq:
                let factorOptions = GPTQFactorOptions(dampingPercent: inputs.recipe.damp, activationOrder: inputs.recipe.actOrder)
                let onWorkers = switch inputs.factorOn {
                case .auto: solveObservations.factorOnWorkers
                case .coordinator: false
                case .workers: true
                }
                if onWorkers {
                    factorFrom = FactorRequest(hessian: try statistics.gptqHessian(), options: factorOptions)
                } else {
                    let start = ContinuousClock.now
                    factor = try GPTQ.prepareFactor(statistics: statistics, options: factorOptions, name: context)
                    let d = ContinuousClock.now - start
                    solveObservations.addFactor(columns: k, seconds: d.seconds, byWorkers: false)
                }
            case .rtn:
                hessian = try statistics.hessian()
            }
        }
        result.factoredOnWorkers = factorFrom != nil
        let live = liveWorkers
        let placement = SolvePlacement(matrices: active.map { SolvePlan.Matrix(rows: shapes[$0].rows, columns: shapes[$0].columns) },
                                       workers: live.count, bytesPerSolver: SolvePlacement.bytesPerSolver(columns: stage.inputWidth(config), gptq: method == .gptq),
                                       rowAlignment: options.rowTile, rates: solveObservations.rates(stage), limit: inputs.solveWorkers)
        let plan = placement.plan
        result.solvers = placement.solvers
        let trafficBefore = await traffic()
        let started = ContinuousClock.now
        let replies = try await timing.measure("solve") {
            try await broadcast("solve") { index in
                let position = live.firstIndex(of: index)
                let pieces = plan.pieces.filter { $0.worker == position }.map {
                    SolveTask.Piece(linear: active[$0.matrix], rows: $0.rows, clip: clip.contains(active[$0.matrix]))
                }
                guard !pieces.isEmpty else { return nil }
                var task = SolveTask(layer: layer, stage: stage, method: method, options: options, factor: factor, hessian: hessian, pieces: pieces)
                task.factorFrom = factorFrom
                return .solve(task)
            }
        }
        let wall = ContinuousClock.now - started
        let moved = await traffic() - trafficBefore
        var parts: [Int: [GPTQSolveResult]] = [:]
        var load = [(cost: Double, seconds: Double, busy: Double)](repeating: (0, 0, 0), count: live.count)
        for piece in plan.pieces { load[piece.worker].cost += piece.cost }
        var damping = factor.map { (percent: $0.dampingPercent, retries: $0.dampingRetries) }
        var slowestFactor = 0.0
        for (index, reply) in replies.enumerated() {
            guard let reply else { continue }
            guard case .solved(_, let pieces, let made) = reply else { throw JobError("\(context): a worker answered solve with \(reply)") }
            for piece in pieces { parts[piece.linear, default: []].append(piece.result) }
            if factorFrom != nil {
                // Every solving worker made the same factor from the same H: the same damping.
                guard let made else { throw JobError("\(context): worker \(workers[index].address) was sent H to factor and reported no factor") }
                if let damping, damping != (made.dampingPercent, made.dampingRetries) {
                    throw JobError("\(context): workers made different factors of one H (damping \(damping.percent) after \(damping.retries) retries, and \(made.dampingPercent) after \(made.dampingRetries) at \(workers[index].address))")
                }
                damping = (made.dampingPercent, made.dampingRetries)
                slowestFactor = max(slowestFactor, made.seconds)
            }
            if let position = live.firstIndex(of: index), position < load.count {
                let solving = pieces.reduce(0) { $0 + $1.seconds }
                load[position].seconds += solving
                load[position].busy += solving + (made?.seconds ?? 0)
            }
        }
        if factorFrom != nil { solveObservations.addFactor(columns: k, seconds: slowestFactor, byWorkers: true) }
        solveObservations.add(stage, wallSeconds: wall.seconds,
                              bytes: moved.sent + moved.received, workers: load.filter { $0.cost > 0 })
        for linear in active {
            let (weights, losses) = try Self.assemble(parts[linear] ?? [], rows: shapes[linear].rows, name: names[linear])
            result.weights[linear] = weights
            result.modules.append(JobReport.Module(name: names[linear], loss: losses.reduce(0, +), damp: damping?.percent, dampRetries: damping?.retries ?? 0))
        }
        if let damping, damping.retries > 0 {
            progress?.log("\(context): Cholesky failed at damp \(inputs.recipe.damp); succeeded at \(damping.percent) after \(damping.retries) retries")
        }
        return result
    }

    /// Joins row pieces into the whole matrix.
    /// - Throws: `JobError` when the pieces do not cover the rows exactly once.
    static func assemble(_ parts: [GPTQSolveResult], rows: Int, name: String) throws -> (QuantizedWeights, [Double]) {
        let sorted = parts.sorted { $0.firstRow < $1.firstRow }
        var next = 0
        for part in sorted {
            guard part.firstRow == next else { throw JobError("\(name): solved rows \(next)..<\(part.firstRow) are \(part.firstRow > next ? "missing" : "duplicated")") }
            next += part.quantized.rows
        }
        guard next == rows, let first = sorted.first else { throw JobError("\(name): solved \(next) of \(rows) rows") }
        let weights = try QuantizedWeights(
            scheme: first.quantized.scheme, rows: rows, columns: first.quantized.columns,
            codes: sorted.flatMap(\.quantized.codes), scales: sorted.flatMap(\.quantized.scales),
            zeroPoints: sorted.flatMap(\.quantized.zeroPoints), groupIndex: first.quantized.groupIndex)
        return (weights, sorted.flatMap(\.rowLosses))
    }

    /// Runs the stage with its quantized weights on every worker.
    func apply(layer: Int, stage: LayerStage, result: StageResult, timing: inout PhaseTimer) async throws {
        currentPhase = (layer, "apply \(stage)")
        _ = try await timing.measure("apply") { try await broadcast("apply") { _ in .apply(layer: layer, stage: stage, weights: result.weights) } }
        layerEvents.append(.apply(stage, modules: zip(stage.linearNames, result.weights).map { name, weights in
            weights == nil ? nil : LayerWeights.tensorName(layer: layer, name)
        }))
    }

    /// The quantization scheme of the recipe, with scales rounded to the model's dtype (the dtype
    /// `weight_scale` is written in), so that the codes are optimal for the scales stored.
    func scheme() throws -> QuantizationScheme {
        let format: ScaleFormat = switch config.torchDtype {
        case .bf16: .bfloat16
        case .f16: .float16
        default: .float32
        }
        return try QuantizationScheme(bits: inputs.recipe.bits, symmetric: inputs.recipe.symmetric, groupSize: inputs.recipe.groupSize, scaleFormat: format)
    }

    var scaleDType: DType { config.torchDtype == .bf16 || config.torchDtype == .f16 ? config.torchDtype : .f32 }

    // MARK: - Writing

    /// Adds the layer's tensors: packed quantized linears, the ops scales were folded into (norms,
    /// biases, unquantized linears) with the fold applied in the source dtype, and every other
    /// tensor of the layer copied as it is in the source.
    /// Tensors already in a shard (a resumed job redoing a layer whose first tensors were
    /// written) are not added again.
    /// - Returns: the names of the modules written quantized, and of the layer's tensors.
    private func write(_ state: LayerState, to writer: ShardedCheckpointWriter) throws -> (quantized: [String], tensors: [String]) {
        let layer = state.index
        var replaced: Set<String> = []
        var quantized: [String] = []
        var names: [String] = []
        func add(_ name: String, _ tensor: @autoclosure () throws -> Tensor) throws {
            names.append(name)
            if !writer.isWritten(name) { try writer.add(name, try tensor()) }
        }
        for stage in LayerStage.allCases {
            for (position, linear) in stage.linearNames.enumerated() {
                guard let weights = state.results[stage]?.weights[position] else { continue }
                let module = LayerWeights.tensorName(layer: layer, linear)
                // In name order: the order of adds decides where a shard ends.
                for (suffix, tensor) in try packed(weights).sorted(by: { $0.key < $1.key }) {
                    try add("\(module).\(suffix)", tensor)
                }
                replaced.insert("\(module).weight")
                quantized.append(module)
            }
        }
        if let original = state.original, !state.fold.isEmpty {
            for (name, values, shape) in try foldedTensors(original, state.fold) where !replaced.contains(name) {
                let dtype = try reader.entry(name).dtype
                try add(name, Tensor(floats: values, shape: shape, dtype: dtype.isFloatingPoint ? dtype : .f32))
                replaced.insert(name)
            }
        }
        let prefix = "model.layers.\(layer)."
        for name in reader.names where name.hasPrefix(prefix) && !replaced.contains(name) {
            try add(name, try reader.tensor(name))
        }
        return (quantized, names)
    }

    /// The tensors of `original` that folding `fold` changes, as (name, values, shape).
    private func foldedTensors(_ original: LayerWeights, _ fold: LayerFold) throws -> [(String, [Float], [Int])] {
        let folded = try original.folded(fold)
        let name = { LayerWeights.tensorName(layer: original.index, $0) }
        var tensors: [(String, [Float], [Int])] = []
        if fold.attentionInput != nil { tensors.append((name("input_layernorm.weight"), folded.inputNorm, [folded.inputNorm.count])) }
        if fold.mlpInput != nil { tensors.append((name("post_attention_layernorm.weight"), folded.postAttentionNorm, [folded.postAttentionNorm.count])) }
        for stage in LayerStage.allCases {
            for (linear, (before, after)) in zip(stage.linearNames, zip(original.linears(of: stage), folded.linears(of: stage))) {
                if after.weight != before.weight {
                    tensors.append((name(linear + ".weight"), after.weight.values, [after.weight.rows, after.weight.columns]))
                }
                if let bias = after.bias, bias != before.bias { tensors.append((name(linear + ".bias"), bias, [bias.count])) }
            }
        }
        return tensors
    }

    /// The checkpoint tensors of a quantized linear, in the output format.
    func packed(_ weights: QuantizedWeights) throws -> [String: Tensor] {
        inputs.recipe.activationBits != nil
            ? try IntQuantizedPacking.pack(weights, scaleDType: scaleDType)
            : CompressedTensorsPacking.pack(weights, scaleDType: scaleDType)
    }

    /// The source tensors of layer `layer`, for workers that cannot read the model.
    func layerTensors(_ layer: Int) throws -> [String: Tensor] {
        let prefix = "model.layers.\(layer)."
        var tensors: [String: Tensor] = [:]
        for name in reader.names where name.hasPrefix(prefix) { tensors[name] = try reader.tensor(name) }
        return tensors
    }
}

/// Wall time per phase of a layer.
struct PhaseTimer {
    var seconds: [String: Double] = [:]

    mutating func measure<T>(_ phase: String, _ body: () async throws -> T) async rethrows -> T {
        let start = Date()
        defer { seconds[phase, default: 0] += Date().timeIntervalSince(start) }
        return try await body()
    }

    mutating func measureSync<T>(_ phase: String, _ body: () throws -> T) rethrows -> T {
        let start = Date()
        defer { seconds[phase, default: 0] += Date().timeIntervalSince(start) }
        return try body()
    }
}
