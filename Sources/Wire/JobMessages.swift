/// Job messages: what the coordinator asks of workers and what they answer. Tensors travel as
/// frames (`Message.tensors`); the names each message expects are listed on it.

/// The quantization recipe a worker needs (mirrors the coordinator's recipe).
public struct RecipeSpec: Sendable, Equatable {
    /// "gptq", "rtn", "awq".
    public var method: String
    public var bits: Int
    /// Input columns per group; -1 means per output channel.
    public var groupSize: Int
    public var symmetric: Bool
    public var actOrder: Bool
    /// GPTQ damping as a fraction of mean(diag H).
    public var damp: Double
    public var trueSequential: Bool

    public init(method: String, bits: Int, groupSize: Int, symmetric: Bool, actOrder: Bool, damp: Double, trueSequential: Bool = true) {
        self.method = method
        self.bits = bits
        self.groupSize = groupSize
        self.symmetric = symmetric
        self.actOrder = actOrder
        self.damp = damp
        self.trueSequential = trueSequential
    }
}

/// Coordinator → worker: the job. Tensors: "tokens" (I32 or I64, [samples, seqLen]), this worker's samples.
public struct JobSpec: Sendable, Equatable {
    public var modelPath: String
    public var recipe: RecipeSpec
    public var seqLen: Int
    /// The coordinator sends layer weights with `LoadLayer`; otherwise workers read `modelPath`.
    public var streamWeights: Bool
    public var shardIndex: Int
    public var shardCount: Int
    public var seed: UInt64

    public init(modelPath: String, recipe: RecipeSpec, seqLen: Int, streamWeights: Bool, shardIndex: Int, shardCount: Int, seed: UInt64) {
        self.modelPath = modelPath
        self.recipe = recipe
        self.seqLen = seqLen
        self.streamWeights = streamWeights
        self.shardIndex = shardIndex
        self.shardCount = shardCount
        self.seed = seed
    }
}

/// Worker → coordinator: the job is set up.
public struct JobAccepted: Sendable, Equatable {
    public var sampleCount: Int

    public init(sampleCount: Int) { self.sampleCount = sampleCount }
}

/// Coordinator → worker: load layer `layer`. Tensors (streamed weights): the layer's tensors under their checkpoint names.
public struct LoadLayer: Sendable, Equatable {
    public var layer: Int

    public init(layer: Int) { self.layer = layer }
}

/// Worker → coordinator: the layer is loaded.
public struct LayerLoaded: Sendable, Equatable {
    public var layer: Int
    /// Bytes of weights the worker holds for the layer.
    public var bytes: UInt64

    public init(layer: Int, bytes: UInt64) {
        self.layer = layer
        self.bytes = bytes
    }
}

/// Coordinator → worker: run stage `stage` of `layer` on the worker's samples and accumulate its input statistics.
public struct CaptureStats: Sendable, Equatable {
    public var layer: Int
    public var stage: Stage

    public init(layer: Int, stage: Stage) {
        self.layer = layer
        self.stage = stage
    }
}

/// Worker → coordinator: the stage input's statistics as sums plus counts. Tensors, e.g. "xtx"
/// (ΣXᵀX, [K, K]), "absmax" ([K]), "abs_sum" (Σ|x|, [K]).
public struct StatsReport: Sendable, Equatable {
    public var layer: Int
    public var stage: Stage
    /// Tokens summed into the statistics.
    public var tokenCount: UInt64

    public init(layer: Int, stage: Stage, tokenCount: UInt64) {
        self.layer = layer
        self.stage = stage
        self.tokenCount = tokenCount
    }
}

/// Quantization parameters of one solve.
public struct QuantParams: Sendable, Equatable {
    public var bits: Int
    /// -1 means per output channel.
    public var groupSize: Int
    public var symmetric: Bool
    public var actOrder: Bool
    /// GPTQ's lazy-update block size.
    public var blockSize: Int
    /// Act-order with groups fixed before permutation (no g_idx needed).
    public var staticGroups: Bool

    public init(bits: Int, groupSize: Int, symmetric: Bool, actOrder: Bool, blockSize: Int = 128, staticGroups: Bool = false) {
        self.bits = bits
        self.groupSize = groupSize
        self.symmetric = symmetric
        self.actOrder = actOrder
        self.blockSize = blockSize
        self.staticGroups = staticGroups
    }
}

/// Coordinator → worker: quantize output rows `rowBegin..<rowEnd` of `module`. Tensors: "hinv"
/// (upper Cholesky factor of the damped H⁻¹, [K, K]), "weight" ([rowEnd − rowBegin, K]),
/// optionally "perm" (I64 [K], act-order).
public struct SolveRequest: Sendable, Equatable {
    public var layer: Int
    public var stage: Stage
    /// The module under the layer, e.g. "self_attn.q_proj".
    public var module: String
    public var rowBegin: Int
    public var rowEnd: Int
    public var params: QuantParams

    public init(layer: Int, stage: Stage, module: String, rowBegin: Int, rowEnd: Int, params: QuantParams) {
        self.layer = layer
        self.stage = stage
        self.module = module
        self.rowBegin = rowBegin
        self.rowEnd = rowEnd
        self.params = params
    }
}

/// Worker → coordinator: a solve's result. Tensors: "codes", "scales", "zeros", "g_idx".
public struct SolveResult: Sendable, Equatable {
    public var layer: Int
    public var module: String
    public var rowBegin: Int
    public var rowEnd: Int
    /// The solve's loss, Σ E² / 2 over the rows.
    public var loss: Double

    public init(layer: Int, module: String, rowBegin: Int, rowEnd: Int, loss: Double) {
        self.layer = layer
        self.module = module
        self.rowBegin = rowBegin
        self.rowEnd = rowEnd
        self.loss = loss
    }
}

/// Coordinator → worker: the stage's final weights (tensors); run the stage with them, advancing
/// the hidden states.
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
