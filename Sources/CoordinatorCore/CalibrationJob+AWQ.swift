import Checkpoint
import Kernels
import Tensors
import Model
import JobProtocol

/// AWQ per layer, as AutoAWQ does it: capture the layer with its original weights, search each
/// scaling group's ratio α, fold the chosen scales, quantize every linear of the layer (RTN after
/// the clip search, or GPTQ), and replay the layer quantized on every worker.
///
/// The groups and how their loss is measured:
///   input_layernorm → q, k, v    attention block output; a forward per candidate on the workers
///   v_proj → o_proj              o_proj's output (only without grouped-query attention: v's
///                                outputs must be o's inputs)
///   post_attention_layernorm →   MLP output; a forward per candidate on the workers
///     gate, up
///   up_proj → down_proj          down_proj's output
/// A single linear's output error on the samples is tr(E·XᵀX·Eᵀ) with E = W_candidate − W, exactly
/// what a forward over the samples would sum. With many samples (T tokens > K inputs) it comes
/// from XᵀX, with no forward: the rows are spread over the workers (N·K² per candidate — 20
/// candidates of a 70B down_proj are ≈ 10¹⁴ multiply–adds, too much for one machine), each with
/// XᵀX. With few samples the workers compute X·Eᵀ on their own (T·N·K per candidate), which a
/// 70B layer with 2048 tokens makes ≈ 20× cheaper (`Recipe.AWQOutputLoss`). Workers return per-candidate squared
/// errors as exact fixed-point sums (per sample sequence, or per tile of rows); the coordinator
/// adds them and takes the first smallest, so every worker count chooses the same α.
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
                fold.attentionOutput = try await searchOutput(.attentionOutput, statistics[1], original.o.weight, scheme, &state, &timing)
            } else if layer == 0 {
                notes.append("AWQ: v_proj → o_proj scaling skipped: grouped-query attention (v has \(config.keyValueWidth) outputs, o_proj \(config.queryWidth) inputs)")
            }
        }
        if isQuantized(.gateUp, layer) {
            fold.mlpInput = try await searchForward(.mlpInput, stage: .gateUp, statistics[2], original, scheme, &state, &timing)
        }
        if isQuantized(.down, layer) {
            fold.mlpOutput = try await searchOutput(.mlpOutput, statistics[3], original.down.weight, scheme, &state, &timing)
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
        return try choose(group, replies, ratios: ratios, candidates: candidates, &state)
    }

    /// A single-linear group: its output error tr(E·XᵀX·Eᵀ) either from the merged XᵀX, the rows
    /// spread over the workers on `AWQ.errorRowTile`'s grid, or on each worker's samples, as the
    /// recipe's `awqOutputLoss` resolves for this job's token count.
    private func searchOutput(_ group: ScaleSearch.Group, _ statistics: ActivationStatistics, _ weights: Matrix, _ scheme: QuantizationScheme,
                              _ state: inout LayerState, _ timing: inout PhaseTimer) async throws -> [Float] {
        let (ratios, candidates) = try candidates(statistics, [weights], scheme)
        let k = statistics.columns
        let tokens = inputs.sequences.reduce(0) { $0 + $1.count }
        let loss = inputs.recipe.awqOutputLoss.resolved(tokens: tokens, columns: k)
        if state.index == 0 {
            notes.append("AWQ: \(group.rawValue) loss \(loss == .gram ? "from XᵀX, rows spread over the workers" : "on the workers' samples") "
                         + "(\(tokens) calibration tokens, \(k) inputs)")
        }
        guard loss == .gram else {
            let search = ScaleSearch(layer: state.index, group: group, candidates: candidates, scheme: scheme)
            let replies = try await timing.measure("search") { try await broadcast("search \(group.rawValue)") { _ in .evaluateScales(search) } }
            return try choose(group, replies, ratios: ratios, candidates: candidates, &state)
        }
        let gram = statistics.gramTensor()
        let plan = SolvePlan(matrices: [SolvePlan.Matrix(name: group.rawValue, rows: weights.rows, columns: k)], workers: workers.count,
                             rowAlignment: AWQ.errorRowTile)
        let layer = state.index
        let replies = try await timing.measure("search") {
            try await broadcast("search \(group.rawValue)") { index in
                let rows = plan.pieces.filter { $0.worker == index }.map(\.rows)
                guard !rows.isEmpty else { return nil }
                return .evaluateScales(ScaleSearch(layer: layer, group: group, candidates: candidates, scheme: scheme, rows: rows, gram: gram))
            }
        }
        return try choose(group, replies, ratios: ratios, candidates: candidates, &state)
    }

    /// The candidate whose loss summed over the replies (exactly, in any order) is the first smallest.
    private func choose(_ group: ScaleSearch.Group, _ replies: [WorkerReply?], ratios: [Float], candidates: [[Float]], _ state: inout LayerState) throws -> [Float] {
        var totals = [Int128](repeating: 0, count: candidates.count)
        for reply in replies {
            guard let reply else { continue }
            guard case .losses(let losses) = reply, losses.sums.count == candidates.count else {
                throw JobError("layer \(state.index): a worker answered the \(group.rawValue) scale search with \(reply)")
            }
            for index in totals.indices { totals[index] &+= losses.sums[index] }
        }
        let best = totals.indices.min { (totals[$0], $0) < (totals[$1], $1) }!
        state.ratios[group.rawValue] = Double(ratios[best])
        state.searchLosses[group.rawValue] = totals.map(FixedPointSum.double)
        return candidates[best]
    }
}
