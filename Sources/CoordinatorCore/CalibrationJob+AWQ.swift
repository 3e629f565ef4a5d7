import Checkpoint
import Kernels
import Model
import WorkerCore

/// AWQ per layer, as AutoAWQ does it: capture the layer with its original weights, search each
/// scaling group's ratio α, fold the chosen scales, quantize every linear of the layer (RTN after
/// the clip search, or GPTQ), and replay the layer quantized on every worker.
///
/// The groups and how their loss is measured:
///   input_layernorm → q, k, v    attention block output; a forward per candidate on the workers
///   v_proj → o_proj              o_proj's output, from XᵀX of its input (only without grouped-query
///                                attention: v's outputs must be o's inputs)
///   post_attention_layernorm →   MLP output; a forward per candidate on the workers
///     gate, up
///   up_proj → down_proj          down_proj's output, from XᵀX of its input
/// A single linear's output error on the samples is tr(E·XᵀX·Eᵀ) with E = W_candidate − W, exactly
/// what a forward over the samples would sum, so those groups need no forward. Workers return
/// per-candidate squared errors as exact fixed-point sums; the coordinator adds them and takes the
/// first smallest, so every worker count chooses the same α.
extension CalibrationJob {
    func calibrateAWQ(_ state: inout LayerState, timing: inout PhaseTimer) async throws -> [LayerStage: StageResult] {
        let layer = state.index
        guard let original = state.original else { throw JobError("layer \(layer): AWQ needs the layer's weights") }
        let statistics = try await capture(layer: layer, stages: LayerStage.allCases, timing: &timing)
        let scheme = try scheme()
        var fold = LayerFold()
        currentPhase = (layer, "awq search")
        report()
        if isQuantized(.qkv, layer) {
            fold.attentionInput = try await searchForward(.attentionInput, stage: .qkv, statistics[0], original, scheme, &state, &timing)
        }
        if isQuantized(.o, layer) {
            if config.keyValueWidth == config.queryWidth {
                fold.attentionOutput = try timing.measureSync("search") { try searchOnStatistics("v_proj→o_proj", statistics[1], original.o.weight, scheme, &state) }
            } else if layer == 0 {
                notes.append("AWQ: v_proj → o_proj scaling skipped: grouped-query attention (v has \(config.keyValueWidth) outputs, o_proj \(config.queryWidth) inputs)")
            }
        }
        if isQuantized(.gateUp, layer) {
            fold.mlpInput = try await searchForward(.mlpInput, stage: .gateUp, statistics[2], original, scheme, &state, &timing)
        }
        if isQuantized(.down, layer) {
            fold.mlpOutput = try timing.measureSync("search") { try searchOnStatistics("up_proj→down_proj", statistics[3], original.down.weight, scheme, &state) }
        }
        _ = try await timing.measure("search") { try await broadcast("fold") { _ in .fold(layer: layer, fold) } }
        state.fold = fold
        var results: [LayerStage: StageResult] = [:]
        let method: SolveTask.Method = inputs.recipe.awqGPTQ ? .gptq : .rtn
        for stage in LayerStage.allCases {
            let scaled = try fold.inputScales(of: stage).map { try statistics[stage.rawValue].scaledInputs(by: $0.map { 1 / $0 }) }
                ?? statistics[stage.rawValue]
            // AutoAWQ clips every linear but q and k (their product with each other, not a weight
            // times an input, is what matters for attention).
            let clip: Set<Int> = inputs.recipe.awqClip && method == .rtn ? (stage == .qkv ? [2] : Set(stage.linearNames.indices)) : []
            results[stage] = try await quantize(layer: layer, stage: stage, statistics: scaled, method: method, clip: clip, timing: &timing)
        }
        for stage in LayerStage.allCases {
            try await apply(layer: layer, stage: stage, result: results[stage]!, timing: &timing)
        }
        return results
    }

    /// Whether any linear of `stage` in `layer` is quantized (not ignored).
    private func isQuantized(_ stage: LayerStage, _ layer: Int) -> Bool {
        stage.linearNames.contains { !inputs.recipe.ignores(LayerWeights.tensorName(layer: layer, $0)) }
    }

    /// The candidates of the recipe's grid for one group.
    private func candidates(_ statistics: ActivationStatistics, _ weights: [Matrix], _ scheme: QuantizationScheme) throws -> ([Float], [[Float]]) {
        let xMean = statistics.meanAbs
        let wMean = inputs.recipe.awqDuoScaling ? AWQ.weightMean(weights, groupLength: try scheme.groupLength(columns: statistics.columns)) : nil
        let ratios = AWQ.ratios(grid: inputs.recipe.awqGrid)
        return (ratios, ratios.map { AWQ.scales(activationMean: xMean, weightMean: wMean, ratio: $0) })
    }

    /// A group searched with forward passes on the workers.
    private func searchForward(_ group: ScaleSearch.Group, stage: LayerStage, _ statistics: ActivationStatistics, _ original: LayerWeights,
                               _ scheme: QuantizationScheme, _ state: inout LayerState, _ timing: inout PhaseTimer) async throws -> [Float] {
        let (ratios, candidates) = try candidates(statistics, original.linears(of: stage).map(\.weight), scheme)
        let search = ScaleSearch(layer: state.index, group: group, candidates: candidates, scheme: scheme)
        let replies = try await timing.measure("search") { try await broadcast("search \(group.rawValue)") { _ in .evaluateScales(search) } }
        var totals = [Int128](repeating: 0, count: candidates.count)
        for reply in replies {
            guard case .losses(let losses)? = reply, losses.sums.count == candidates.count else {
                throw JobError("layer \(state.index): a worker answered the \(group.rawValue) scale search with \(String(describing: reply))")
            }
            for index in totals.indices { totals[index] &+= losses.sums[index] }
        }
        let best = totals.indices.min { (totals[$0], $0) < (totals[$1], $1) }!
        state.ratios[group.rawValue] = Double(ratios[best])
        return candidates[best]
    }

    /// A single-linear group searched on its input's XᵀX: loss(α) = tr(E·XᵀX·Eᵀ).
    private func searchOnStatistics(_ group: String, _ statistics: ActivationStatistics, _ weights: Matrix, _ scheme: QuantizationScheme,
                                    _ state: inout LayerState) throws -> [Float] {
        let (ratios, candidates) = try candidates(statistics, [weights], scheme)
        let gram = statistics.gram()
        let losses = try candidates.map { AWQ.outputError(try AWQ.candidate(weights, scales: $0, scheme: scheme), weights, gram: gram) }
        let best = losses.indices.min { (losses[$0], $0) < (losses[$1], $1) }!
        state.ratios[group] = Double(ratios[best])
        return candidates[best]
    }
}
