import JobProtocol
import Model
import ModelConfiguration

/// One step of calibrating a layer, as the driver carries it out (`CalibrationJob.calibrate`).
public enum LayerStep: Sendable, Equatable, CustomStringConvertible {
    /// Every worker loads the layer (sent with it when weights are streamed).
    case load
    /// The input statistics of `stages` on every worker's samples, merged.
    case capture([LayerStage])
    /// SmoothQuant: scales from the stage's merged input maxima, folded on every worker; the
    /// stage's statistics become those of the smoothed input.
    case smooth(LayerStage)
    /// AWQ: the group's scale search (forward passes on the workers, or one linear's output error).
    case searchScales(ScaleSearch.Group)
    /// AWQ: the searched scales folded on every worker; the statistics of the stages whose inputs
    /// they scale follow.
    case foldSearched
    /// The stage's linears quantized from its statistics, by `method`; RTN clips the linears in
    /// `clip` (positions in the stage) first.
    case quantize(LayerStage, SolveTask.Method, clip: Set<Int>)
    /// Every worker runs the stage with its quantized weights.
    case apply(LayerStage)
    /// The layer's tensors go to the checkpoint writer.
    case write

    public var description: String {
        switch self {
        case .load: "load"
        case .capture(let stages): "capture " + stages.map(\.description).joined(separator: "+")
        case .smooth(let stage): "smooth \(stage)"
        case .searchScales(let group): "search \(group.rawValue)"
        case .foldSearched: "fold"
        case .quantize(let stage, let method, let clip): "quantize \(stage) \(method.rawValue)" + (clip.isEmpty ? "" : " clip \(clip.sorted())")
        case .apply(let stage): "apply \(stage)"
        case .write: "write"
        }
    }
}

/// The steps of one layer, decided from the recipe and the model alone (no workers, no data): the
/// three ways calibrate goes through a layer, as data.
///
/// - AWQ: capture every stage with the original weights, search each scaling group, fold, quantize
///   every stage (RTN with AWQ's clip search, or GPTQ), then apply them all (AutoAWQ's order).
/// - True-sequential (the default): per stage, capture its input with everything upstream
///   already quantized, smooth it (SmoothQuant, at the stages fed by a norm), quantize, apply.
/// - Capture-first (`--no-true-sequential`): capture every stage with the original weights, then
///   per stage smooth and quantize, then apply them all.
public struct LayerPlan: Sendable, Equatable {
    public var steps: [LayerStep]
    /// What the plan leaves out and why, for the job's report.
    public var notes: [String]

    /// - Parameters:
    ///   - isQuantized: whether a stage of this layer has a linear the recipe quantizes.
    ///   - config: the model; with grouped-query attention v_proj has fewer outputs than o_proj
    ///     has inputs, and AWQ's v → o scaling does not exist.
    public init(recipe: Recipe, config: ModelConfig, isQuantized: (LayerStage) -> Bool) {
        let stages = LayerStage.allCases
        let method: SolveTask.Method = recipe.method == .gptq ? .gptq : .rtn
        let smoothed: (LayerStage) -> [LayerStep] = { stage in
            recipe.smoothQuant != nil && (stage == .qkv || stage == .gateUp) ? [.smooth(stage)] : []
        }
        notes = []
        if recipe.method == .awq {
            var searches: [LayerStep] = []
            if isQuantized(.qkv) { searches.append(.searchScales(.attentionInput)) }
            if isQuantized(.o) {
                if config.keyValueWidth != config.queryWidth {
                    notes.append("AWQ: v_proj → o_proj scaling skipped: grouped-query attention (v has \(config.keyValueWidth) outputs, o_proj \(config.queryWidth) inputs)")
                } else {
                    searches.append(.searchScales(.attentionOutput))
                }
            }
            if isQuantized(.gateUp) { searches.append(.searchScales(.mlpInput)) }
            if isQuantized(.down) { searches.append(.searchScales(.mlpOutput)) }
            let awqMethod: SolveTask.Method = recipe.awqGPTQ ? .gptq : .rtn
            // AutoAWQ clips every linear but q and k (their product with each other, not a weight
            // times an input, is what matters for attention).
            let clip = { (stage: LayerStage) -> Set<Int> in
                recipe.awqClip && awqMethod == .rtn ? (stage == .qkv ? [2] : Set(stage.linearNames.indices)) : []
            }
            steps = [.load, .capture(stages)] + searches + [.foldSearched]
                + stages.map { .quantize($0, awqMethod, clip: clip($0)) } + stages.map { .apply($0) } + [.write]
        } else if recipe.trueSequential {
            steps = [.load] + stages.flatMap { [.capture([$0])] + smoothed($0) + [.quantize($0, method, clip: []), .apply($0)] } + [.write]
        } else {
            steps = [.load, .capture(stages)] + stages.flatMap { smoothed($0) + [.quantize($0, method, clip: [])] }
                + stages.map { .apply($0) } + [.write]
        }
    }
}
