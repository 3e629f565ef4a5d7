import Kernels
import ModelConfiguration

/// Runs decoder layers over the hidden states of a batch of sequences, which it holds.
///
/// Two ways to run a layer:
/// - `forward(_:observer:)`: the whole layer, group of sequences by group; an observer, when
///   given, sees every stage's input piece by piece (no copy is made when there is none).
/// - Stage by stage, for calibration: `begin(_:)`, then for each `LayerStage` in order
///   `withStageInput(_:_:)` (the stage's input for all tokens) and `apply(_:weights:)` (run
///   the stage with any weights, e.g. dequantized ones), which produces the next stage's input.
///   After `.down` the hidden states hold the layer's output.
///
/// Both paths cut the batch the same way (`ChunkPlan`) and run the same products in the same
/// shapes, so with the same weights they give the same bits.
///
/// Memory, for T tokens (floats): the hidden states T·hidden; workspaces of about
/// P·(hidden + 2·intermediate) + G·(2·queryWidth + 2·keyValueWidth) + attention scores, with
/// P = pieces of ≤ `chunkTokens` rows and G the largest group (≥ the longest sequence); and, only
/// once stage-wise execution is used, one stage buffer of T·max(hidden, queryWidth,
/// intermediate) that holds each stage's input in turn (each `apply` rewrites it in place).
///
/// Not thread-safe: one thread drives an executor. Matrix products use BLAS with its global
/// thread count (`BLAS.setThreadCount`), which the caller sets.
public final class LayerExecutor {
    public let config: ModelConfig
    public let options: ExecutionOptions
    /// The hidden states: the input of the next layer to run (mid-layer, see `nextStage`).
    public internal(set) var states: HiddenStates
    /// The layout of `states` (kept apart so that reading it never overlaps a write to the states).
    public let batch: SequenceBatch
    /// Time and work of the layers run so far.
    public var profile = ExecutionProfile()

    let plan: ChunkPlan
    let rope: RotaryEmbedding
    let attention: Attention
    let normed: FloatBuffer
    let q: FloatBuffer
    let k: FloatBuffer
    let v: FloatBuffer
    let attended: FloatBuffer
    let attentionWorkspace: FloatBuffer
    let gate: FloatBuffer
    let up: FloatBuffer
    var stageBuffer: FloatBuffer?
    /// Quantized copies of linear inputs (only for linears with `inputQuantization`).
    var activationScratch: FloatBuffer?
    /// The layer being run stage by stage and its next stage.
    var staged: (weights: LayerWeights, next: LayerStage)?

    /// An executor over `states`, whose workspaces are sized for its batch.
    /// - Throws: `ModelError.sequenceTooLong` naming `max_position_embeddings` when a sequence
    ///   exceeds it; `.badShape` when the states' width is not the config's hidden size.
    public init(config: ModelConfig, states: HiddenStates, options: ExecutionOptions = ExecutionOptions()) throws {
        try states.batch.validate(maxPositionEmbeddings: config.maxPositionEmbeddings)
        guard states.hiddenSize == config.hiddenSize else {
            throw ModelError(.badShape, "hidden states have \(states.hiddenSize) columns, the model's hidden_size is \(config.hiddenSize)")
        }
        self.config = config
        self.options = options
        self.states = states
        batch = states.batch
        plan = ChunkPlan(batch: states.batch, chunkTokens: options.chunkTokens, packSequences: options.packSequences)
        rope = RotaryEmbedding(config: config, positions: batch.maxLength)
        attention = Attention(config: config, blockRows: options.attentionBlockRows)
        let (pieceRows, groupRows) = (plan.maxPieceTokens, plan.maxGroupTokens)
        normed = FloatBuffer(count: pieceRows * config.hiddenSize)
        q = FloatBuffer(count: groupRows * config.queryWidth)
        k = FloatBuffer(count: groupRows * config.keyValueWidth)
        v = FloatBuffer(count: groupRows * config.keyValueWidth)
        attended = FloatBuffer(count: groupRows * config.queryWidth)
        attentionWorkspace = FloatBuffer(count: attention.workspaceCount(maxLength: batch.maxLength))
        gate = FloatBuffer(count: pieceRows * config.intermediateSize)
        up = FloatBuffer(count: pieceRows * config.intermediateSize)
    }

    /// Bytes of the workspaces (not counting the hidden states or the stage buffer).
    /// Replaces the hidden states with `saved` (same batch), e.g. to replay a layer from its
    /// input; abandons a layer in progress.
    /// - Precondition: `saved` has this executor's batch and hidden size.
    public func restore(_ saved: HiddenStates) {
        precondition(saved.batch == batch && saved.hiddenSize == config.hiddenSize, "restore: states of another batch")
        staged = nil
        states = saved
    }

    public var workspaceBytes: Int {
        [normed, q, k, v, attended, attentionWorkspace, gate, up].reduce(0) { $0 + $1.byteCount }
    }

    /// Bytes of the stage buffer that stage-wise execution allocates (once, on first `begin`):
    /// tokens × max(hidden, queryWidth, intermediate) floats.
    public var stageBufferBytes: Int {
        batch.tokenCount * stageWidth * MemoryLayout<Float>.size
    }

    var stageWidth: Int { max(config.hiddenSize, config.queryWidth, config.intermediateSize) }

    /// Bytes a calibration worker holds for `tokens` tokens of `config`'s model, before a layer's
    /// weights and statistics: the hidden states, their saved copy (a layer's input, for replay)
    /// and the stage buffer. Nil when the product overflows an Int (more than any machine has).
    public static func calibrationBytes(config: ModelConfig, tokens: Int) -> Int? {
        let (perToken, overflow) = (2 * config.hiddenSize + max(config.hiddenSize, config.queryWidth, config.intermediateSize))
            .multipliedReportingOverflow(by: MemoryLayout<Float>.size)
        let (total, overflowTotal) = perToken.multipliedReportingOverflow(by: tokens)
        return overflow || overflowTotal ? nil : total
    }

    /// `calibrationBytes` per token, as a Double (for plans of any size).
    public static func calibrationBytesPerToken(config: ModelConfig) -> Double {
        4 * Double(2 * config.hiddenSize + max(config.hiddenSize, config.queryWidth, config.intermediateSize))
    }

    /// Runs one whole decoder layer on the hidden states.
    /// - Parameters:
    ///   - weights: the layer's weights, checked against the config.
    ///   - observer: called with the input of every stage, piece by piece (in token order within
    ///     each stage of a group; `.qkv` of a group before its `.o`, and so on).
    /// - Throws: `ModelError.badShape`/`.missingTensor` for weights that do not fit the config,
    ///   `.stageOrder` when a stage-wise layer is in progress, or what the observer throws.
    public func forward(_ weights: LayerWeights, observer: ((StageInput) throws -> Void)? = nil) throws {
        if let staged {
            throw ModelError(.stageOrder, "layer \(staged.weights.index) is being run stage by stage (next stage \(staged.next)); finish it before a whole-layer forward")
        }
        try weights.validate(config)
        let start = ExecutionProfile.now()
        let (hidden, qWidth, intermediate) = (config.hiddenSize, config.queryWidth, config.intermediateSize)
        try states.values.values.withUnsafeMutableBufferPointer { buffer in
            let h = buffer.baseAddress!
            for group in plan.groups {
                for piece in group.pieces {
                    let rows = piece.count
                    normalize(weights.inputNorm, rows: rows, h: h + piece.lowerBound * hidden, into: normed.base)
                    try observer?(StageInput(stage: .qkv, firstToken: piece.lowerBound, rows: rows, width: hidden, values: normed.base))
                    projectQKV(weights, x: normed.base, rows: rows, row: piece.lowerBound - group.tokens.lowerBound)
                }
                attend(weights, group: group)
                for piece in group.pieces {
                    let rows = piece.count
                    let hRows = h + piece.lowerBound * hidden
                    let a = attended.base + (piece.lowerBound - group.tokens.lowerBound) * qWidth
                    try observer?(StageInput(stage: .o, firstToken: piece.lowerBound, rows: rows, width: qWidth, values: a))
                    linear(weights.o, x: a, rows: rows, into: hRows, accumulate: true)
                    normalize(weights.postAttentionNorm, rows: rows, h: hRows, into: normed.base)
                    try observer?(StageInput(stage: .gateUp, firstToken: piece.lowerBound, rows: rows, width: hidden, values: normed.base))
                    projectGateUp(weights, x: normed.base, rows: rows)
                    try observer?(StageInput(stage: .down, firstToken: piece.lowerBound, rows: rows, width: intermediate, values: gate.base))
                    linear(weights.down, x: gate.base, rows: rows, into: hRows, accumulate: true)
                }
            }
        }
        profile.totalSeconds += ExecutionProfile.now() - start
        profile.tokenLayers += batch.tokenCount
        try checkFinite(layer: weights.index)
    }

    /// Throws when the hidden states after layer `layer` hold NaN or ±Inf: finite weights can
    /// still overflow float32 (weights of 1e38, an absurd norm), and a model that does is not
    /// calibrated or evaluated into a NaN perplexity or loss that reads like a result. One pass
    /// over the states, against the layer's [tokens × width²] arithmetic.
    /// - Throws: `ModelError.nonFinite` naming the layer, the sequence and its token.
    func checkFinite(layer: Int) throws {
        let position = states.values.values.withUnsafeBufferPointer { LayerMath.firstNonFinite($0) }
        guard let position else { return }
        let token = position / config.hiddenSize
        let sequence = batch.offsets.lastIndex(where: { $0 <= token }) ?? 0
        let value = states.values.values[position]
        throw ModelError(.nonFinite, "the output of layer \(layer) holds \(value) (sequence \(sequence), token \(token - batch.offsets[sequence]), element \(position % config.hiddenSize)): the activations overflow float32 — the model's weights or config.json are not those of a working model")
    }

    // MARK: - Steps shared by both paths

    /// out (rows × hidden) = RMSNorm of the hidden rows `h` with `weight`.
    func normalize(_ weight: [Float], rows: Int, h: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let hidden = config.hiddenSize
        weight.withUnsafeBufferPointer {
            LayerMath.rmsNorm(rows: rows, width: hidden, x: h, ldx: hidden, weight: $0.baseAddress!,
                              eps: Float(config.rmsNormEps), out: out, ldo: hidden)
        }
    }

    /// q, k, v rows `row ..< row + rows` of the group workspaces from the normed input `x`.
    func projectQKV(_ weights: LayerWeights, x: UnsafePointer<Float>, rows: Int, row: Int) {
        linear(weights.q, x: x, rows: rows, into: q.base + row * config.queryWidth, accumulate: false)
        linear(weights.k, x: x, rows: rows, into: k.base + row * config.keyValueWidth, accumulate: false)
        linear(weights.v, x: x, rows: rows, into: v.base + row * config.keyValueWidth, accumulate: false)
    }

    /// The group's attention output in `attended`, from the q, k, v workspaces: Qwen3's q/k norms,
    /// RoPE (positions from 0 in every sequence), then attention sequence by sequence.
    func attend(_ weights: LayerWeights, group: ChunkPlan.Group) {
        let start = ExecutionProfile.now()
        let rows = group.tokens.count
        let (qWidth, kvWidth, d) = (config.queryWidth, config.keyValueWidth, config.headDim)
        let eps = Float(config.rmsNormEps)
        if let qNorm = weights.qNorm, let kNorm = weights.kNorm {
            // Every head vector is one row of d values.
            qNorm.withUnsafeBufferPointer {
                LayerMath.rmsNorm(rows: rows * config.numAttentionHeads, width: d, x: q.base, ldx: d, weight: $0.baseAddress!, eps: eps, out: q.base, ldo: d)
            }
            kNorm.withUnsafeBufferPointer {
                LayerMath.rmsNorm(rows: rows * config.numKeyValueHeads, width: d, x: k.base, ldx: d, weight: $0.baseAddress!, eps: eps, out: k.base, ldo: d)
            }
        }
        var flops = 0.0
        for sequence in group.sequences {
            let length = batch.lengths[sequence]
            let row = batch.offsets[sequence] - group.tokens.lowerBound
            rope.apply(rows: length, heads: config.numAttentionHeads, x: q.base + row * qWidth, ld: qWidth, firstPosition: 0)
            rope.apply(rows: length, heads: config.numKeyValueHeads, x: k.base + row * kvWidth, ld: kvWidth, firstPosition: 0)
            flops += attention.run(length: length, q: q.base + row * qWidth, k: k.base + row * kvWidth, v: v.base + row * kvWidth,
                                   out: attended.base + row * qWidth, workspace: attentionWorkspace.base)
        }
        profile.attentionSeconds += ExecutionProfile.now() - start
        profile.attentionFlops += flops
    }

    /// gate workspace (rows × intermediate) = silu(x·W_gateᵀ + b) ⊙ (x·W_upᵀ + b).
    func projectGateUp(_ weights: LayerWeights, x: UnsafePointer<Float>, rows: Int) {
        linear(weights.gate, x: x, rows: rows, into: gate.base, accumulate: false)
        linear(weights.up, x: x, rows: rows, into: up.base, accumulate: false)
        LayerMath.siluMultiply(gate: gate.base, up: up.base, count: rows * config.intermediateSize)
    }

    /// out (rows × outFeatures, contiguous) = x·Wᵀ + b, or out += x·Wᵀ + b when `accumulate`
    /// (the residual connection, folded into the product with β = 1).
    func linear(_ layer: Linear, x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (outFeatures, inFeatures) = (layer.weight.rows, layer.weight.columns)
        let x = layer.inputQuantization.map { quantizedActivations(x, rows: rows, width: inFeatures, scheme: $0) } ?? x
        let start = ExecutionProfile.now()
        layer.weight.values.withUnsafeBufferPointer { w in
            BLAS.sgemm(transposeB: true, m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
                       b: w.baseAddress!, ldb: inFeatures, beta: accumulate ? 1 : 0, c: out, ldc: outFeatures)
        }
        if let bias = layer.bias {
            bias.withUnsafeBufferPointer { LayerMath.addBias(rows: rows, width: outFeatures, y: out, ldy: outFeatures, bias: $0.baseAddress!) }
        }
        profile.linearSeconds += ExecutionProfile.now() - start
        profile.linearFlops += 2 * Double(rows) * Double(outFeatures) * Double(inFeatures)
    }

    /// `x` with every row quantized symmetrically on `scheme`'s grid and back (per-token dynamic
    /// quantization: scale = max|x_t| / ((2^b − 1)/2), codes clamped to [−2^(b−1), 2^(b−1) − 1],
    /// rounding half to even — compressed-tensors' grid, `QuantizationGrid`), in a scratch buffer.
    func quantizedActivations(_ x: UnsafePointer<Float>, rows: Int, width: Int, scheme: QuantizationScheme) -> UnsafePointer<Float> {
        let scratch: FloatBuffer
        if let existing = activationScratch, existing.count >= rows * width {
            scratch = existing
        } else {
            scratch = FloatBuffer(count: rows * width)
            activationScratch = scratch
        }
        let out = scratch.base
        let (codeMin, codeMax) = (Float(scheme.codeMin), Float(scheme.codeMax))
        for r in 0..<rows {
            let row = x + r * width
            var largest: Float = 0
            for j in 0..<width { largest = max(largest, abs(row[j])) }
            let parameters = QuantizationGrid.parameters(low: -largest, high: largest, scheme: scheme)
            for j in 0..<width { out[r * width + j] = parameters.dequantized(parameters.code(row[j], codeMin: codeMin, codeMax: codeMax)) }
        }
        return UnsafePointer(out)
    }
}
