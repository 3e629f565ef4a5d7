import Kernels
import ModelConfiguration

/// Stage-by-stage execution of a layer ("true sequential" calibration).
///
/// The stage buffer holds one stage's input for all tokens at a time, T rows of the stage's input
/// width: input_layernorm(h) (hidden) → attention output (queryWidth) → post_attention_layernorm
/// of the updated residual (hidden) → silu(gate)·up (intermediate). `apply(s)` reads stage s's
/// input piece by piece and writes stage s+1's input over it, in the order `ChunkPlan.inPlaceOrder`
/// gives, so the buffer never needs more than T·max(widths) floats. The residual stream lives in
/// `states` throughout: o_proj and down_proj add into it.
extension LayerExecutor {
    /// The stage whose input is ready and which `apply` runs next, nil when no layer is in progress.
    public var nextStage: LayerStage? { staged?.next }

    /// Starts running a layer stage by stage: computes the `.qkv` input, input_layernorm(h).
    /// - Parameter weights: the layer's original weights. Norms, biases and Qwen3's q/k norms are
    ///   taken from here for every stage; `apply` may replace the linear weight matrices.
    /// - Throws: `ModelError` for weights that do not fit the config (naming the tensor), or
    ///   `.stageOrder` when another layer is in progress.
    public func begin(_ weights: LayerWeights) throws {
        if let staged {
            throw ModelError(.stageOrder, "layer \(staged.weights.index) is still in progress (next stage \(staged.next)); cannot begin layer \(weights.index)")
        }
        try start(weights, at: .qkv, norm: weights.inputNorm)
    }

    /// Starts a layer stage by stage at `.qkv` (input_layernorm(h), as `begin`) or at `.gateUp`
    /// (post_attention_layernorm(h), taking the hidden states as the residual after attention):
    /// the two stages whose input is a function of the hidden states alone. Abandons a layer in
    /// progress. Used to re-run part of a layer with changed weights (AWQ's candidates, weights
    /// smoothed after their input was computed).
    /// - Throws: `ModelError.stageOrder` for another stage; `.badShape` for weights that do not fit.
    public func resume(_ weights: LayerWeights, at stage: LayerStage) throws {
        guard stage == .qkv || stage == .gateUp else {
            throw ModelError(.stageOrder, "a layer can resume at qkv or gate_up, whose inputs depend on the hidden states alone; not at \(stage)")
        }
        staged = nil
        try start(weights, at: stage, norm: stage == .qkv ? weights.inputNorm : weights.postAttentionNorm)
    }

    /// Computes `norm`(h) into the stage buffer, piece by piece as `apply` does, and makes `stage` next.
    private func start(_ weights: LayerWeights, at stage: LayerStage, norm: [Float]) throws {
        try weights.validate(config)
        let buffer = stageBuffer ?? FloatBuffer(count: batch.tokenCount * stageWidth)
        stageBuffer = buffer
        timed {
            withHiddenStates { h in
                for piece in plan.pieces {
                    normalize(norm, rows: piece.count, h: h + piece.lowerBound * config.hiddenSize,
                              into: buffer.base + piece.lowerBound * config.hiddenSize)
                }
            }
        }
        staged = (weights, stage)
    }

    /// Calls `body` with the input of `stage` for every token of the batch (tokens × width,
    /// contiguous, rows in batch order). The pointer is valid only during the call.
    /// - Throws: `ModelError.stageOrder` unless `stage` is `nextStage`; what `body` throws.
    public func withStageInput<R>(_ stage: LayerStage, _ body: (StageInput) throws -> R) throws -> R {
        guard let staged, staged.next == stage, let buffer = stageBuffer else {
            throw orderError(stage)
        }
        return try body(StageInput(stage: stage, firstToken: 0, rows: batch.tokenCount, width: stage.inputWidth(config), values: buffer.base))
    }

    /// Runs `stage` and prepares the next stage's input; after `.down` the hidden states hold
    /// the layer's output and the layer is finished.
    /// - Parameters:
    ///   - stage: must be `nextStage`.
    ///   - weights: replacement weight matrices of the stage's linears in `LayerStage.linearNames`
    ///     order (e.g. dequantized quantized weights), or nil for the original ones.
    /// - Throws: `ModelError.stageOrder` for a stage out of turn; `.badShape` naming the tensor
    ///   for a replacement of the wrong count or shape (nothing is changed then).
    public func apply(_ stage: LayerStage, weights replacement: [Matrix]? = nil) throws {
        guard let staged, staged.next == stage, let buffer = stageBuffer else {
            throw orderError(stage)
        }
        var weights = staged.weights
        if let replacement {
            try check(replacement, for: stage, layer: weights.index)
            weights.replaceWeights(of: stage, with: replacement)
        }
        timed {
            withHiddenStates { h in
                switch stage {
                case .qkv: applyQKV(weights, buffer: buffer.base)
                case .o: applyO(weights, buffer: buffer.base, h: h)
                case .gateUp: applyGateUp(weights, buffer: buffer.base)
                case .down: applyDown(weights, buffer: buffer.base, h: h)
                }
            }
        }
        if let next = stage.next {
            self.staged = (staged.weights, next)
        } else {
            self.staged = nil
            profile.tokenLayers += batch.tokenCount
            try checkFinite(layer: weights.index)
        }
    }

    /// Abandons a layer in progress (the hidden states are then partly updated: replay the
    /// layer from saved states or from the embeddings).
    public func abandonLayer() { staged = nil }

    // MARK: - Stages

    private func applyQKV(_ weights: LayerWeights, buffer: UnsafeMutablePointer<Float>) {
        let (hidden, qWidth) = (config.hiddenSize, config.queryWidth)
        for group in ChunkPlan.inPlaceOrder(plan.groups, inWidth: hidden, outWidth: qWidth) {
            for piece in group.pieces {
                projectQKV(weights, x: buffer + piece.lowerBound * hidden, rows: piece.count, row: piece.lowerBound - group.tokens.lowerBound)
            }
            attend(weights, group: group)
            (buffer + group.tokens.lowerBound * qWidth).update(from: attended.base, count: group.tokens.count * qWidth)
        }
    }

    private func applyO(_ weights: LayerWeights, buffer: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>) {
        let (hidden, qWidth) = (config.hiddenSize, config.queryWidth)
        for piece in ChunkPlan.inPlaceOrder(plan.pieces, inWidth: qWidth, outWidth: hidden) {
            let hRows = h + piece.lowerBound * hidden
            linear(weights.o, x: buffer + piece.lowerBound * qWidth, rows: piece.count, into: hRows, accumulate: true)
            normalize(weights.postAttentionNorm, rows: piece.count, h: hRows, into: buffer + piece.lowerBound * hidden)
        }
    }

    private func applyGateUp(_ weights: LayerWeights, buffer: UnsafeMutablePointer<Float>) {
        let (hidden, intermediate) = (config.hiddenSize, config.intermediateSize)
        for piece in ChunkPlan.inPlaceOrder(plan.pieces, inWidth: hidden, outWidth: intermediate) {
            projectGateUp(weights, x: buffer + piece.lowerBound * hidden, rows: piece.count)
            (buffer + piece.lowerBound * intermediate).update(from: gate.base, count: piece.count * intermediate)
        }
    }

    private func applyDown(_ weights: LayerWeights, buffer: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>) {
        let (hidden, intermediate) = (config.hiddenSize, config.intermediateSize)
        for piece in plan.pieces {
            linear(weights.down, x: buffer + piece.lowerBound * intermediate, rows: piece.count, into: h + piece.lowerBound * hidden, accumulate: true)
        }
    }

    // MARK: - Helpers

    private func withHiddenStates(_ body: (UnsafeMutablePointer<Float>) -> Void) {
        states.values.values.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }

    private func timed(_ body: () -> Void) {
        let start = ExecutionProfile.now()
        body()
        profile.totalSeconds += ExecutionProfile.now() - start
    }

    private func orderError(_ stage: LayerStage) -> ModelError {
        guard let staged else {
            return ModelError(.stageOrder, "stage \(stage) requested but no layer is in progress; call begin(_:) first")
        }
        return ModelError(.stageOrder, "stage \(stage) requested but layer \(staged.weights.index) expects stage \(staged.next) next")
    }

    private func check(_ replacement: [Matrix], for stage: LayerStage, layer: Int) throws {
        guard replacement.count == stage.linearNames.count else {
            throw ModelError(.badShape, "stage \(stage) of layer \(layer) has \(stage.linearNames.count) linears (\(stage.linearNames.joined(separator: ", "))), got \(replacement.count) weight matrices")
        }
        for (position, (matrix, shape)) in zip(replacement, stage.weightShapes(config)).enumerated()
        where matrix.rows != shape.rows || matrix.columns != shape.columns {
            throw ModelError(.badShape, tensor: LayerWeights.tensorName(layer: layer, stage.linearNames[position] + ".weight"),
                             "replacement weight has shape [\(matrix.rows), \(matrix.columns)], expected [\(shape.rows), \(shape.columns)]")
        }
    }
}
