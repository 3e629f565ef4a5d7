import Kernels
import Model
import JobProtocol

/// SmoothQuant within the stage flow: at the two stages whose input comes from a norm (q/k/v and
/// gate/up), once their input's per-channel maxima are merged, the smoothing scales are decided,
/// folded on every worker (which recomputes the stage's input from the folded norm), and the
/// statistics transformed to what the smoothed input would have given.
extension CalibrationJob {
    /// `statistics` of `stage`'s input after smoothing it (unchanged when the recipe does not
    /// smooth or the stage has no norm before it).
    func smooth(_ stage: LayerStage, _ statistics: ActivationStatistics, _ state: inout LayerState,
                timing: inout PhaseTimer) async throws -> ActivationStatistics {
        guard let alpha = inputs.recipe.smoothQuant, stage == .qkv || stage == .gateUp, let original = state.original else { return statistics }
        let weights = try original.folded(state.fold).linears(of: stage).map(\.weight)
        let s = SmoothQuant.scales(activationMax: statistics.absMax, weights: weights, alpha: Float(alpha))
        let fold = stage == .qkv ? LayerFold(attentionInput: s) : LayerFold(mlpInput: s)
        currentPhase = (state.index, "smooth \(stage)")
        _ = try await timing.measure("solve") { try await broadcast("fold") { _ in .fold(layer: state.index, fold) } }
        layerEvents.append(.fold(fold))
        state.fold = state.fold.merging(fold)
        return try statistics.scaledInputs(by: s.map { 1 / $0 })
    }
}
