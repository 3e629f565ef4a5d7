import Kernels
import Tensors
import Model
import JobProtocol

/// AWQ's scale searches, as AutoAWQ does them (the order of a layer — capture with the original
/// weights, search each group's ratio α, fold, quantize every linear by RTN after the clip search
/// or by GPTQ, replay the layer quantized — is its `LayerPlan`).
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
    /// AWQ's search of `group`'s scales on the stage statistics captured with the original
    /// weights; the chosen scales go to `state.searched` (folded by the plan's `.foldSearched`).
    func search(_ group: ScaleSearch.Group, _ state: inout LayerState, timing: inout PhaseTimer) async throws {
        let layer = state.index
        guard let original = state.original else { throw JobError("layer \(layer): AWQ needs the layer's weights") }
        currentPhase = (layer, "awq search")
        report()
        let scheme = try scheme()
        let stage: LayerStage = switch group {
        case .attentionInput: .qkv
        case .attentionOutput: .o
        case .mlpInput: .gateUp
        case .mlpOutput: .down
        }
        guard let statistics = state.statistics[stage] else { throw JobError("layer \(layer): AWQ's \(group.rawValue) search before capturing \(stage)") }
        switch group {
        case .attentionInput:
            state.searched.attentionInput = try await searchForward(group, stage: stage, statistics, original, scheme, &state, &timing)
        case .attentionOutput:
            state.searched.attentionOutput = try await searchOutput(group, statistics, original.o.weight, scheme, &state, &timing)
        case .mlpInput:
            state.searched.mlpInput = try await searchForward(group, stage: stage, statistics, original, scheme, &state, &timing)
        case .mlpOutput:
            state.searched.mlpOutput = try await searchOutput(group, statistics, original.down.weight, scheme, &state, &timing)
        }
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
        let live = liveWorkers
        let plan = SolvePlan(matrices: [SolvePlan.Matrix(rows: weights.rows, columns: k)], workers: live.count,
                             rowAlignment: AWQ.errorRowTile)
        let layer = state.index
        let replies = try await timing.measure("search") {
            try await broadcast("search \(group.rawValue)") { index in
                let position = live.firstIndex(of: index)
                let rows = plan.pieces.filter { $0.worker == position }.map(\.rows)
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
        guard let best = totals.indices.min(by: { (totals[$0], $0) < (totals[$1], $1) }) else {
            throw JobError("layer \(state.index): the \(group.rawValue) scale search has no candidates")
        }
        state.ratios[group.rawValue] = Double(ratios[best])
        state.searchLosses[group.rawValue] = totals.map(FixedPointSum.double)
        return candidates[best]
    }
}
