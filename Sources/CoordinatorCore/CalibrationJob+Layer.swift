import Checkpoint
import Foundation
import Kernels
import Model
import Tensors
import WorkerCore

/// One layer of the job: load, the stages, the write.
extension CalibrationJob {
    /// A stage's quantized linears (nil where the recipe ignores the module) and their report lines.
    struct StageResult {
        var weights: [QuantizedWeights?]
        var modules: [JobReport.Module]
    }

    /// Calibrates layer `layer` on every worker and adds its tensors to `writer`.
    /// - Returns: the layer's report and the names of the modules quantized.
    func calibrate(layer: Int, writer: ShardedCheckpointWriter) async throws -> (JobReport.Layer, [String]) {
        var timing = PhaseTimer()
        currentPhase = (layer, "load")
        let streamed = inputs.recipe.streamWeights ? try layerTensors(layer) : nil
        _ = try await timing.measure("load") { try await broadcast("load") { _ in .loadLayer(index: layer, weights: streamed) } }
        var results: [LayerStage: StageResult] = [:]
        if inputs.recipe.trueSequential {
            for stage in LayerStage.allCases {
                let statistics = try await capture(layer: layer, stages: [stage], timing: &timing)
                results[stage] = try await quantize(layer: layer, stage: stage, statistics: statistics[0], timing: &timing)
                try await apply(layer: layer, stage: stage, result: results[stage]!, timing: &timing)
            }
        } else {
            let statistics = try await capture(layer: layer, stages: LayerStage.allCases, timing: &timing)
            for stage in LayerStage.allCases {
                results[stage] = try await quantize(layer: layer, stage: stage, statistics: statistics[stage.rawValue], timing: &timing)
            }
            for stage in LayerStage.allCases {
                try await apply(layer: layer, stage: stage, result: results[stage]!, timing: &timing)
            }
        }
        currentPhase = (layer, "write")
        report()
        let written = try timing.measureSync("write") { try write(layer: layer, results: results, to: writer) }
        let modules = LayerStage.allCases.flatMap { results[$0]!.modules }
        return (JobReport.Layer(index: layer, seconds: timing.seconds, modules: modules), written)
    }

    /// Statistics of `stages`' inputs, merged over the workers in worker order.
    private func capture(layer: Int, stages: [LayerStage], timing: inout PhaseTimer) async throws -> [ActivationStatistics] {
        currentPhase = (layer, "capture " + stages.map(\.description).joined(separator: "+"))
        let replies = try await timing.measure("capture") { try await broadcast("capture") { _ in .capture(layer: layer, stages: stages) } }
        return try timing.measureSync("merge") {
            let parts = try replies.map { reply -> [ActivationStatistics] in
                guard case .statistics(let parts)? = reply, parts.count == stages.count else {
                    throw JobError("layer \(layer): a worker answered capture with \(String(describing: reply))")
                }
                return parts
            }
            return try stages.indices.map { position in try ActivationStatistics.merged(parts.map { $0[position] }) }
        }
    }

    /// Quantizes the stage's linears: the factor once, row pieces solved across the workers.
    private func quantize(layer: Int, stage: LayerStage, statistics: ActivationStatistics, timing: inout PhaseTimer) async throws -> StageResult {
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
            switch inputs.recipe.method {
            case .gptq:
                factor = try GPTQ.prepareFactor(
                    statistics: statistics, options: GPTQFactorOptions(dampingPercent: inputs.recipe.damp, activationOrder: inputs.recipe.actOrder), name: context)
            case .rtn:
                hessian = try statistics.hessian()
            }
        }
        let plan = SolvePlan(matrices: active.map { SolvePlan.Matrix(name: String($0), rows: shapes[$0].rows, columns: shapes[$0].columns) },
                             workers: workers.count, rowAlignment: options.rowTile)
        let method: SolveTask.Method = inputs.recipe.method == .gptq ? .gptq : .rtn
        let replies = try await timing.measure("solve") {
            try await broadcast("solve") { index in
                let pieces = plan.pieces.filter { $0.worker == index }.map { SolveTask.Piece(linear: Int($0.matrix)!, rows: $0.rows) }
                guard !pieces.isEmpty else { return nil }
                return .solve(SolveTask(layer: layer, stage: stage, method: method, options: options, factor: factor, hessian: hessian, pieces: pieces))
            }
        }
        var parts: [Int: [GPTQSolveResult]] = [:]
        for reply in replies {
            guard let reply else { continue }
            guard case .solved(let pieces) = reply else { throw JobError("\(context): a worker answered solve with \(reply)") }
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
    private func apply(layer: Int, stage: LayerStage, result: StageResult, timing: inout PhaseTimer) async throws {
        currentPhase = (layer, "apply \(stage)")
        _ = try await timing.measure("apply") { try await broadcast("apply") { _ in .apply(layer: layer, stage: stage, weights: result.weights) } }
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

    /// Adds layer `layer`'s tensors: packed quantized linears, and every other tensor of the layer
    /// (norms, biases, ignored linears) copied as it is in the source.
    /// - Returns: the names of the modules written quantized.
    private func write(layer: Int, results: [LayerStage: StageResult], to writer: ShardedCheckpointWriter) throws -> [String] {
        var replaced: Set<String> = []
        var quantized: [String] = []
        for stage in LayerStage.allCases {
            for (position, linear) in stage.linearNames.enumerated() {
                guard let weights = results[stage]?.weights[position] else { continue }
                let module = LayerWeights.tensorName(layer: layer, linear)
                for (suffix, tensor) in CompressedTensorsPacking.pack(weights, scaleDType: scaleDType) {
                    try writer.add("\(module).\(suffix)", tensor)
                }
                replaced.insert("\(module).weight")
                quantized.append(module)
            }
        }
        let prefix = "model.layers.\(layer)."
        for name in reader.names where name.hasPrefix(prefix) && !replaced.contains(name) {
            try writer.add(name, try reader.tensor(name))
        }
        return quantized
    }

    /// The source tensors of layer `layer`, for workers that cannot read the model.
    private func layerTensors(_ layer: Int) throws -> [String: Tensor] {
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
