import Kernels
import Model
import Tensors

/// Everything a coordinator asks of a worker, as values: the one vocabulary of the job protocol.
/// In-process workers receive these directly; remote workers through the wire, where
/// `WireCodec` maps each case onto its message of Protocols/calibrate.proto and its tensor frames
/// (and nothing else stands between: no second set of message types).
public enum WorkerRequest: Sendable, Equatable {
    /// Take a job: compute the embeddings of the samples (from the model path, or from
    /// `embeddings` rows sent with the job when streaming).
    case start(WorkerJob, embeddings: Tensor?)
    /// Load layer `index` (from the model path, or from `weights` — HF tensor names — when streaming).
    case loadLayer(index: Int, weights: [String: Tensor]?)
    /// Statistics of the inputs of `stages` of the loaded layer on this worker's samples.
    case capture(layer: Int, stages: [LayerStage])
    /// Fold per-channel scales into the loaded layer (AWQ, SmoothQuant); in true-sequential mode
    /// the stage whose input is ready is recomputed with the folded weights.
    case fold(layer: Int, LayerFold)
    /// Losses of AWQ scale candidates on this worker's samples (capture-first mode only).
    case evaluateScales(ScaleSearch)
    /// Quantize pieces of the loaded layer's linears.
    case solve(SolveTask)
    /// Run `stage` with its quantized weights (nil: keep that linear's original weights).
    case apply(layer: Int, stage: LayerStage, weights: [QuantizedWeights?])
    /// The job is over: report and free everything.
    case finish

    // Recovery from a lost worker (docs/ARCHITECTURE.md, "Lost workers"): the survivors go back
    // to the input of the interrupted layer, adopt the lost worker's samples, rebuild their hidden
    // states by replaying the completed layers, and merge them.

    /// Back to the input of layer `layer`: a layer in progress (loaded, part of its stages run) is
    /// abandoned and the hidden states restored to its input; adopted samples not yet merged are
    /// dropped.
    case rewind(layer: Int)
    /// Take over `samples`: their embeddings, in a batch of their own until `mergeAdopted`.
    case adopt(AdoptedSamples)
    /// Run a completed layer, as it was calibrated, on the adopted samples.
    case replay(LayerReplay)
    /// The adopted samples join this worker's own (their hidden states are now at the same layer).
    case mergeAdopted

    // Rebalancing at a layer boundary, when workers join (docs/ARCHITECTURE.md, "Joining workers").

    /// Give up the samples of `blocks` (runs of whole statistics blocks this worker holds), at
    /// the input of the next layer; with `states`, send their hidden states back (in the order
    /// of `blocks`) for another worker to adopt as they are.
    case release(blocks: [Range<Int>], states: Bool)
}

/// A worker's answer to a `WorkerRequest`, case by case. Each names what it answers (the layer,
/// the stage), as its protocol message does, so that a reply can be checked against its request.
public enum WorkerReply: Sendable, Equatable {
    case started(tokens: Int)
    case loaded(layer: Int)
    case folded(layer: Int)
    case losses(ScaleLosses)
    /// One part per requested stage, in the request's order.
    case statistics(layer: Int, [ActivationStatistics])
    /// `factor`: the factor the worker made itself, when it was sent the Hessian.
    case solved(layer: Int, [SolvedPiece], factor: FactorReport?)
    case applied(layer: Int, stage: LayerStage)
    case finished(WorkerSummary)
    case rewound(layer: Int)
    /// `tokens`: the adopted samples' tokens.
    case adopted(tokens: Int)
    case replayed(layer: Int)
    /// `tokens`: this worker's tokens after the merge.
    case merged(tokens: Int)
    /// `tokens`: the released samples' tokens; `states`: their hidden states [tokens, hidden] when asked for.
    case released(tokens: Int, states: Tensor?)
}

extension WorkerReply {
    /// Whether this is an answer to `request`: its case, and the layer, stage and part count the
    /// request asked for (statistics: one part per stage).
    public func answers(_ request: WorkerRequest) -> Bool {
        switch (request, self) {
        case (.start, .started), (.evaluateScales, .losses), (.finish, .finished), (.adopt, .adopted), (.mergeAdopted, .merged): true
        case (.rewind(let asked), .rewound(let layer)): asked == layer
        case (.replay(let replay), .replayed(let layer)): replay.layer == layer
        case (.release(_, let asked), .released(_, let states)): asked == (states != nil)
        case (.loadLayer(let asked, _), .loaded(let layer)), (.fold(let asked, _), .folded(let layer)): asked == layer
        case (.capture(let asked, let stages), .statistics(let layer, let parts)): asked == layer && parts.count == stages.count
        case (.solve(let task), .solved(let layer, _, _)): task.layer == layer
        case (.apply(let asked, let askedStage, _), .applied(let layer, let stage)): asked == layer && askedStage == stage
        default: false
        }
    }

    /// The case and what it names, without tensor contents: for logs and errors.
    public var summary: String {
        switch self {
        case .started(let tokens): "started (\(tokens) tokens)"
        case .loaded(let layer): "loaded layer \(layer)"
        case .folded(let layer): "folded layer \(layer)"
        case .losses(let losses): "losses of \(losses.sums.count) candidates"
        case .statistics(let layer, let parts): "statistics of layer \(layer) (\(parts.count) stage(s))"
        case .solved(let layer, let pieces, _): "\(pieces.count) solved piece(s) of layer \(layer)"
        case .applied(let layer, let stage): "applied layer \(layer) stage \(stage)"
        case .finished: "finished"
        case .rewound(let layer): "rewound to layer \(layer)"
        case .adopted(let tokens): "adopted \(tokens) tokens"
        case .replayed(let layer): "replayed layer \(layer)"
        case .merged(let tokens): "merged (\(tokens) tokens)"
        case .released(let tokens, let states): "released \(tokens) tokens\(states == nil ? "" : " with their hidden states")"
        }
    }
}

/// What a worker reports at the end of a job.
public struct WorkerSummary: Sendable, Equatable {
    public var peakResidentBytes: Int
    /// Seconds spent in the forward pass, statistics and solves.
    public var forwardSeconds: Double
    public var statisticsSeconds: Double
    public var solveSeconds: Double
    /// The BLAS kernels and threads the worker computed with (`BLAS.coreName`, `.threadCount`).
    public var blasCore: String?
    public var blasThreads: Int

    public init(peakResidentBytes: Int, forwardSeconds: Double, statisticsSeconds: Double, solveSeconds: Double, blasCore: String? = nil,
                blasThreads: Int = 0) {
        self.peakResidentBytes = peakResidentBytes
        self.forwardSeconds = forwardSeconds
        self.statisticsSeconds = statisticsSeconds
        self.solveSeconds = solveSeconds
        self.blasCore = blasCore
        self.blasThreads = blasThreads
    }
}
