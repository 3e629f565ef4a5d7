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
        return (JobReport.Layer(index: layer, seconds: timing.seconds, modules: modules, ratios: state.ratios,
                                 searchLosses: state.searchLosses), written.quantized, written.tensors)
    }

    /// Statistics of `stages`' inputs, merged over the workers in worker order.
    func capture(layer: Int, stages: [LayerStage], timing: inout PhaseTimer) async throws -> [ActivationStatistics] {
        currentPhase = (layer, "capture " + stages.map(\.description).joined(separator: "+"))
        let replies = try await timing.measure("capture") { try await broadcast("capture") { _ in .capture(layer: layer, stages: stages) } }
        return try timing.measureSync("merge") {
            let parts = try replies.compactMap { $0 }.map { reply -> [ActivationStatistics] in
                guard case .statistics(_, let parts) = reply else {
                    throw JobError("layer \(layer): a worker answered capture with \(reply.summary)")
                }
                return parts
            }
            return try stages.indices.map { position in try ActivationStatistics.merged(parts.map { $0[position] }) }
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
        var hessian: [Float]?
        try timing.measureSync("solve") {
            switch method {
            case .gptq:
                factor = try GPTQ.prepareFactor(
                    statistics: statistics, options: GPTQFactorOptions(dampingPercent: inputs.recipe.damp, activationOrder: inputs.recipe.actOrder), name: context)
            case .rtn:
                hessian = try statistics.hessian()
            }
        }
        let live = liveWorkers
        let plan = SolvePlan(matrices: active.map { SolvePlan.Matrix(rows: shapes[$0].rows, columns: shapes[$0].columns) },
                             workers: live.count, rowAlignment: options.rowTile)
        let replies = try await timing.measure("solve") {
            try await broadcast("solve") { index in
                let position = live.firstIndex(of: index)
                let pieces = plan.pieces.filter { $0.worker == position }.map {
                    SolveTask.Piece(linear: active[$0.matrix], rows: $0.rows, clip: clip.contains(active[$0.matrix]))
                }
                guard !pieces.isEmpty else { return nil }
                return .solve(SolveTask(layer: layer, stage: stage, method: method, options: options, factor: factor, hessian: hessian, pieces: pieces))
            }
        }
        var parts: [Int: [GPTQSolveResult]] = [:]
        for reply in replies {
            guard let reply else { continue }
            guard case .solved(_, let pieces) = reply else { throw JobError("\(context): a worker answered solve with \(reply)") }
            for piece in pieces { parts[piece.linear, default: []].append(piece.result) }
        }
        for linear in active {
            let (weights, losses) = try Self.assemble(parts[linear] ?? [], rows: shapes[linear].rows, name: names[linear])
            result.weights[linear] = weights
            result.modules.append(JobReport.Module(name: names[linear], loss: losses.reduce(0, +), damp: factor?.dampingPercent, dampRetries: factor?.dampingRetries ?? 0))
        }
        if let factor, factor.dampingRetries > 0 {
            progress?.log("\(context): Cholesky failed at damp \(inputs.recipe.damp); succeeded at \(factor.dampingPercent) after \(factor.dampingRetries) retries")
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
