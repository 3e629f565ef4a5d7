/// Job messages: what the coordinator asks of workers and what they answer. Tensors travel as
/// frames (`Message.tensors`); the names each message expects are listed on it.

/// Coordinator → worker: the job. Tensors: "config_json" (U8), "tokens" (I32 [total]), "lengths"
/// (I64 [samples]); "embeddings" (F32 [total, hidden]) when weights are streamed.
public struct JobSpec: Sendable, Equatable {
    /// The model directory as the worker sees it; nil when the coordinator streams weights.
    public var modelPath: String?
    /// Index of this worker's first sample in the job's sample order.
    public var firstSample: Int
    /// BLAS threads (0: keep the worker's setting).
    public var threads: Int
    public var trueSequential: Bool
    /// Sequences per statistics batch.
    public var statisticsBlock: Int

    public init(modelPath: String?, firstSample: Int, threads: Int, trueSequential: Bool, statisticsBlock: Int) {
        self.modelPath = modelPath
        self.firstSample = firstSample
        self.threads = threads
        self.trueSequential = trueSequential
        self.statisticsBlock = statisticsBlock
    }
}

/// Worker → coordinator: the job is set up.
public struct JobAccepted: Sendable, Equatable {
    public var tokenCount: Int

    public init(tokenCount: Int) { self.tokenCount = tokenCount }
}

/// Coordinator → worker: load layer `layer`. Tensors (streamed weights): the layer's tensors under their checkpoint names.
public struct LoadLayer: Sendable, Equatable {
    public var layer: Int

    public init(layer: Int) { self.layer = layer }
}

/// Worker → coordinator: the layer is loaded.
public struct LayerLoaded: Sendable, Equatable {
    public var layer: Int

    public init(layer: Int) { self.layer = layer }
}

/// Coordinator → worker: the input statistics of `stages` of `layer` on the worker's samples.
public struct CaptureStats: Sendable, Equatable {
    public var layer: Int
    public var stages: [Stage]

    public init(layer: Int, stages: [Stage]) {
        self.layer = layer
        self.stages = stages
    }
}

/// Worker → coordinator: statistics per stage position i as tensors "i.token_count",
/// "i.xtx_upper", "i.absmax", "i.sum_abs", "i.sum_squares".
public struct StatsReport: Sendable, Equatable {
    public var layer: Int
    public var stageCount: Int

    public init(layer: Int, stageCount: Int) {
        self.layer = layer
        self.stageCount = stageCount
    }
}

/// Coordinator → worker: fold scales into `layer`. Tensors: "attention_input",
/// "attention_output", "mlp_input", "mlp_output" (F32), those folded.
public struct Fold: Sendable, Equatable {
    public var layer: Int

    public init(layer: Int) { self.layer = layer }
}

/// Worker → coordinator: the scales are folded.
public struct Folded: Sendable, Equatable {
    public var layer: Int

    public init(layer: Int) { self.layer = layer }
}

/// A quantization grid: bits, symmetry, group size (-1: per output row), scale format.
public struct QuantScheme: Sendable, Equatable {
    public var bits: Int
    public var symmetric: Bool
    public var groupSize: Int
    /// "float32", "float16" or "bfloat16".
    public var scaleFormat: String

    public init(bits: Int, symmetric: Bool, groupSize: Int, scaleFormat: String) {
        self.bits = bits
        self.symmetric = symmetric
        self.groupSize = groupSize
        self.scaleFormat = scaleFormat
    }
}

/// AWQ's scaling groups (values as in calibrate.proto): the input groups' loss needs a forward
/// pass on the worker's samples, the output groups' a row range and the linear input's XᵀX.
public enum ScaleGroup: UInt32, Sendable, CaseIterable {
    case attentionInput = 1
    case mlpInput = 2
    case attentionOutput = 3
    case mlpOutput = 4
}

/// Coordinator → worker: losses of AWQ scale candidates. Tensors: "candidates" (F32 [n, K]);
/// for the output groups also "gram" (F64 [K, K]).
public struct ScaleSearchRequest: Sendable, Equatable {
    public var layer: Int
    public var group: ScaleGroup
    public var scheme: QuantScheme
    /// Output groups: the rows of the linear to evaluate, each begin < end.
    public var rows: [Range<Int>]

    public init(layer: Int, group: ScaleGroup, scheme: QuantScheme, rows: [Range<Int>] = []) {
        self.layer = layer
        self.group = group
        self.scheme = scheme
        self.rows = rows
    }
}

/// Worker → coordinator: the candidates' squared errors. Tensors: "sums" (I64 [n, 2], fixed point).
public struct ScaleLossesReport: Sendable, Equatable {
    public var elements: Int

    public init(elements: Int) { self.elements = elements }
}

/// How a solve quantizes.
public struct SolveOptionsSpec: Sendable, Equatable {
    public var scheme: QuantScheme
    public var staticGroups: Bool
    public var blockSize: Int
    public var rowTile: Int
    /// RTN's MSE clipping search: grid and largest shrink, when searched.
    public var clipGrid: Int?
    public var clipMaxShrink: Double?

    public init(scheme: QuantScheme, staticGroups: Bool, blockSize: Int, rowTile: Int, clipGrid: Int? = nil, clipMaxShrink: Double? = nil) {
        self.scheme = scheme
        self.staticGroups = staticGroups
        self.blockSize = blockSize
        self.rowTile = rowTile
        self.clipGrid = clipGrid
        self.clipMaxShrink = clipMaxShrink
    }
}

/// Rows of one linear of a stage (its position among the stage's linears).
public struct SolvePieceSpec: Sendable, Equatable {
    public var linear: Int
    public var rowBegin: Int
    public var rowEnd: Int
    /// RTN: AWQ's clip search first.
    public var clip: Bool

    public init(linear: Int, rowBegin: Int, rowEnd: Int, clip: Bool) {
        self.linear = linear
        self.rowBegin = rowBegin
        self.rowEnd = rowEnd
        self.clip = clip
    }
}

/// GPTQ or round-to-nearest (values as in calibrate.proto).
public enum SolveMethod: UInt32, Sendable, CaseIterable {
    case gptq = 1
    case rtn = 2
}

/// Coordinator → worker: quantize row pieces of a stage's linears. Tensors: the GPTQ factor's
/// ("factor.<name>") or the RTN Hessian ("hessian", F32 [K, K]).
public struct SolveRequest: Sendable, Equatable {
    public var layer: Int
    public var stage: Stage
    public var method: SolveMethod
    public var options: SolveOptionsSpec
    public var pieces: [SolvePieceSpec]

    public init(layer: Int, stage: Stage, method: SolveMethod, options: SolveOptionsSpec, pieces: [SolvePieceSpec]) {
        self.layer = layer
        self.stage = stage
        self.method = method
        self.options = options
        self.pieces = pieces
    }
}

/// Worker → coordinator: the pieces solved. Tensors per piece position i: "i.<quantized weights>" and "i.row_losses".
public struct SolveResult: Sendable, Equatable {
    public var layer: Int
    public var pieces: [SolvePieceSpec]

    public init(layer: Int, pieces: [SolvePieceSpec]) {
        self.layer = layer
        self.pieces = pieces
    }
}

/// Coordinator → worker: the stage's quantized weights (tensors "p.<quantized weights>" per
/// linear position p; a linear without tensors keeps its original weights); run the stage.
public struct ApplyLayer: Sendable, Equatable {
    public var layer: Int
    public var stage: Stage

    public init(layer: Int, stage: Stage) {
        self.layer = layer
        self.stage = stage
    }
}

/// Worker → coordinator: the stage was applied.
public struct Applied: Sendable, Equatable {
    public var layer: Int
    public var stage: Stage

    public init(layer: Int, stage: Stage) {
        self.layer = layer
        self.stage = stage
    }
}

/// Coordinator → worker: the job is over.
public struct FinishJob: Sendable, Equatable {
    public init() {}
}

/// Worker → coordinator: what the job cost the worker.
public struct JobSummary: Sendable, Equatable {
    public var peakResidentBytes: UInt64
    public var forwardSeconds: Double
    public var statisticsSeconds: Double
    public var solveSeconds: Double

    public init(peakResidentBytes: UInt64, forwardSeconds: Double, statisticsSeconds: Double, solveSeconds: Double) {
        self.peakResidentBytes = peakResidentBytes
        self.forwardSeconds = forwardSeconds
        self.statisticsSeconds = statisticsSeconds
        self.solveSeconds = solveSeconds
    }
}

/// Coordinator → worker: a generic evaluation named by `kind` (e.g. an AWQ loss grid), with
/// scalar `parameters` and tensors as frames, so that new searches need no new message type.
public struct Evaluate: Sendable, Equatable {
    public var kind: String
    public var layer: Int?
    public var stage: Stage?
    public var parameters: [Double]

    public init(kind: String, layer: Int? = nil, stage: Stage? = nil, parameters: [Double] = []) {
        self.kind = kind
        self.layer = layer
        self.stage = stage
        self.parameters = parameters
    }
}

/// Worker → coordinator: an evaluation's scalar results (tensors as frames).
public struct Evaluated: Sendable, Equatable {
    public var kind: String
    public var values: [Double]

    public init(kind: String, values: [Double] = []) {
        self.kind = kind
        self.values = values
    }
}
