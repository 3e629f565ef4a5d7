import Foundation
import Kernels
import Model
import Tensors

/// What a worker is asked to do for one job: which model, which samples, how to compute.
public struct WorkerJob: Sendable, Equatable {
    /// The job's one identifier: the coordinator makes it (`newID()`), and it is the envelope's
    /// job id of every message of the job (a remote worker's `WorkerJob` takes it from there).
    public var jobID: String
    /// The model directory as this worker sees it (a shared filesystem), or nil when the
    /// coordinator streams the weights (`--stream-weights`).
    public var modelPath: String?
    /// The model's `config.json` text, so a streaming worker needs no file at all.
    public var configJSON: [UInt8]
    /// This worker's calibration sequences (token ids), and the global index of the first.
    public var sequences: [[Int32]]
    public var firstSample: Int
    /// BLAS threads for this worker's arithmetic (0: leave OpenBLAS's setting alone).
    public var threads: Int
    /// Whether each stage is captured after the upstream stages were quantized (true) or the
    /// whole layer is captured with the original weights first (false).
    public var trueSequential: Bool
    /// Sequences per statistics batch in true-sequential mode; `sequences` holds whole blocks of
    /// the global sample order (the last worker's may end short).
    public var statisticsBlock: Int

    public init(jobID: String, modelPath: String?, configJSON: [UInt8], sequences: [[Int32]], firstSample: Int,
                threads: Int = 0, trueSequential: Bool = true, statisticsBlock: Int = 1) {
        self.jobID = jobID
        self.modelPath = modelPath
        self.configJSON = configJSON
        self.sequences = sequences
        self.firstSample = firstSample
        self.threads = threads
        self.trueSequential = trueSequential
        self.statisticsBlock = statisticsBlock
    }

    /// A job identifier unique enough to tell jobs apart in workers' logs.
    public static func newID() -> String {
        "job-\(UInt64(Date().timeIntervalSince1970 * 1000))-\(UInt32.random(in: 0...UInt32.max))"
    }
}

/// One piece of quantization work: rows of the linears of one stage of one layer, quantized
/// against the merged statistics of the stage's input.
public struct SolveTask: Sendable, Equatable {
    public enum Method: String, Sendable {
        case gptq, rtn
    }

    /// A row range of one linear (`LayerStage.linearNames` position).
    public struct Piece: Sendable, Equatable {
        public var linear: Int
        public var rows: Range<Int>
        /// RTN only: clip each (row, group) by AWQ's search on the Hessian's group blocks first.
        public var clip: Bool
        public init(linear: Int, rows: Range<Int>, clip: Bool = false) {
            self.linear = linear
            self.rows = rows
            self.clip = clip
        }
    }

    public var layer: Int
    public var stage: LayerStage
    public var method: Method
    public var options: GPTQSolveOptions
    /// GPTQ: the shared factor of the stage's Hessian, made by the coordinator…
    public var factor: GPTQFactor?
    /// …or the Hessian and options for the worker to make it itself (`JobInputs.factorOn`).
    public var factorFrom: FactorRequest?
    /// RTN: H = 2·XᵀX/n (K×K, row-major), for each row's Hessian-weighted loss and the clip search.
    public var hessian: [Float]?
    public var pieces: [Piece]

    public init(layer: Int, stage: LayerStage, method: Method, options: GPTQSolveOptions, factor: GPTQFactor?, hessian: [Float]?, pieces: [Piece]) {
        self.layer = layer
        self.stage = stage
        self.method = method
        self.options = options
        self.factor = factor
        self.hessian = hessian
        self.pieces = pieces
    }
}

/// What a worker needs to make a stage's GPTQ factor itself: H in Float and GPTQ's options.
public struct FactorRequest: Sendable, Equatable {
    public var hessian: GPTQHessian
    public var options: GPTQFactorOptions
    public init(hessian: GPTQHessian, options: GPTQFactorOptions) {
        (self.hessian, self.options) = (hessian, options)
    }
}

/// What a worker that made the stage's factor reports of it: the damping that succeeded (for the
/// report) and its seconds (for where the next factor is made).
public struct FactorReport: Sendable, Equatable {
    public var dampingPercent: Double
    public var dampingRetries: Int
    public var seconds: Double
    public init(dampingPercent: Double, dampingRetries: Int, seconds: Double) {
        (self.dampingPercent, self.dampingRetries, self.seconds) = (dampingPercent, dampingRetries, seconds)
    }
}

/// The result of one piece: the quantized rows and each row's loss.
public struct SolvedPiece: Sendable, Equatable {
    public var linear: Int
    public var result: GPTQSolveResult
    /// The worker's seconds solving it: what the coordinator spreads later solves by
    /// (`SolvePlacement`); never part of the result.
    public var seconds: Double
    public init(linear: Int, result: GPTQSolveResult, seconds: Double = 0) {
        self.linear = linear
        self.result = result
        self.seconds = seconds
    }
}

/// AWQ's scale search for one group of a layer: each candidate's scales s give the group's
/// linears the weights Q(W·diag(s))·diag(s)⁻¹.
///
/// The input groups' loss needs a forward pass: the squared error of the block's output
/// (attention block for `attentionInput`, MLP for `mlpInput`) against the unquantized block, on
/// this worker's samples, with the original upstream of the layer. The output groups' loss is one
/// linear's (o_proj for `attentionOutput`, down_proj for `mlpOutput`) output error
/// tr(E·XᵀX·Eᵀ): with `gram` = XᵀX of its input, over the rows in `rows` (no samples needed, so
/// the rows are spread over the workers as solves are); without, on this worker's samples.
public struct ScaleSearch: Sendable, Equatable {
    public enum Group: String, Sendable, CaseIterable {
        /// input_layernorm → q, k, v; loss on the attention block's output.
        case attentionInput
        /// post_attention_layernorm → gate, up; loss on the MLP's output.
        case mlpInput
        /// v_proj → o_proj; loss on o_proj's output, from XᵀX.
        case attentionOutput
        /// up_proj → down_proj; loss on down_proj's output, from XᵀX.
        case mlpOutput

        public var isOutputGroup: Bool { self == .attentionOutput || self == .mlpOutput }
    }

    public var layer: Int
    public var group: Group
    /// One scale vector per candidate (the group's input width each).
    public var candidates: [[Float]]
    public var scheme: QuantizationScheme
    /// Output groups from XᵀX: row ranges of the linear, each starting on `AWQ.errorRowTile`'s grid.
    public var rows: [Range<Int>]
    /// Output groups from XᵀX: XᵀX of the linear's input, F64 [K, K] (shared, not copied, between
    /// requests); nil for the loss on the samples.
    public var gram: Tensor?

    public init(layer: Int, group: Group, candidates: [[Float]], scheme: QuantizationScheme, rows: [Range<Int>] = [], gram: Tensor? = nil) {
        self.layer = layer
        self.group = group
        self.candidates = candidates
        self.scheme = scheme
        self.rows = rows
        self.gram = gram
    }
}

/// A worker's losses of a `ScaleSearch`: per candidate, Σ (y − ŷ)² as an exact fixed-point sum
/// (`FixedPointSum`), and the number of output values summed (output groups: rows evaluated),
/// so that workers' parts add up to the same total however the samples or rows are split.
public struct ScaleLosses: Sendable, Equatable {
    public var sums: [Int128]
    public var elements: Int

    public init(sums: [Int128], elements: Int) {
        self.sums = sums
        self.elements = elements
    }
}
