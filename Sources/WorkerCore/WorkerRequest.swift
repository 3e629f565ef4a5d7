import Kernels
import Model
import Tensors

/// Everything a coordinator asks of a worker, as values: the seam between the job logic and the
/// transport. In-process workers receive these directly; remote workers receive them through
/// the wire protocol, which maps each case onto a message and its tensor frames.
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
}

/// A worker's answer to a `WorkerRequest`, case by case.
public enum WorkerReply: Sendable, Equatable {
    case started(tokens: Int)
    case loaded
    case folded
    case losses(ScaleLosses)
    case statistics([ActivationStatistics])
    case solved([SolvedPiece])
    case applied
    case finished(WorkerSummary)
}

/// What a worker reports at the end of a job.
public struct WorkerSummary: Sendable, Equatable {
    public var peakResidentBytes: Int
    /// Seconds spent in the forward pass, statistics and solves.
    public var forwardSeconds: Double
    public var statisticsSeconds: Double
    public var solveSeconds: Double

    public init(peakResidentBytes: Int, forwardSeconds: Double, statisticsSeconds: Double, solveSeconds: Double) {
        self.peakResidentBytes = peakResidentBytes
        self.forwardSeconds = forwardSeconds
        self.statisticsSeconds = statisticsSeconds
        self.solveSeconds = solveSeconds
    }
}
