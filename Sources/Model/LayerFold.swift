import Kernels

/// Per-channel scales folded into a layer without changing what it computes (up to float
/// rounding): AWQ's and SmoothQuant's equivalent transformations. Each scale vector s belongs to
/// one group of linears sharing an input; the op before them absorbs 1/s:
///
/// | scales                | the op before (÷ s)                  | the linears (columns × s) |
/// |-----------------------|--------------------------------------|---------------------------|
/// | `attentionInput`      | input_layernorm weight               | q_proj, k_proj, v_proj    |
/// | `attentionOutput`     | v_proj rows (and bias)               | o_proj                    |
/// | `mlpInput`            | post_attention_layernorm weight      | gate_proj, up_proj        |
/// | `mlpOutput`           | up_proj rows (and bias)              | down_proj                 |
///
/// v_proj → o_proj needs v's output width to equal o's input width (no grouped-query attention).
public struct LayerFold: Sendable, Equatable {
    public var attentionInput: [Float]?
    public var attentionOutput: [Float]?
    public var mlpInput: [Float]?
    public var mlpOutput: [Float]?

    public init(attentionInput: [Float]? = nil, attentionOutput: [Float]? = nil, mlpInput: [Float]? = nil, mlpOutput: [Float]? = nil) {
        self.attentionInput = attentionInput
        self.attentionOutput = attentionOutput
        self.mlpInput = mlpInput
        self.mlpOutput = mlpOutput
    }

    public var isEmpty: Bool { attentionInput == nil && attentionOutput == nil && mlpInput == nil && mlpOutput == nil }

    /// The scales of the input of `stage`'s linears (what their columns were multiplied by).
    public func inputScales(of stage: LayerStage) -> [Float]? {
        switch stage {
        case .qkv: attentionInput
        case .o: attentionOutput
        case .gateUp: mlpInput
        case .down: mlpOutput
        }
    }

    /// These scales and `other`'s, with `other` taking precedence where both have a group.
    public func merging(_ other: LayerFold) -> LayerFold {
        LayerFold(attentionInput: other.attentionInput ?? attentionInput, attentionOutput: other.attentionOutput ?? attentionOutput,
                  mlpInput: other.mlpInput ?? mlpInput, mlpOutput: other.mlpOutput ?? mlpOutput)
    }
}

extension LayerWeights {
    /// The layer with `fold` applied.
    /// - Throws: `ModelError.badShape` when a scale vector does not fit its group's width.
    public func folded(_ fold: LayerFold) throws -> LayerWeights {
        var result = self
        func check(_ s: [Float], _ width: Int, _ what: String) throws {
            guard s.count == width else {
                throw ModelError(.badShape, "layer \(index): \(what) scales have \(s.count) entries, expected \(width)")
            }
        }
        if let s = fold.attentionInput {
            try check(s, inputNorm.count, "attention input")
            result.inputNorm = zip(inputNorm, s).map { $0 / $1 }
            result.q.weight = AWQ.scaledColumns(q.weight, s)
            result.k.weight = AWQ.scaledColumns(k.weight, s)
            result.v.weight = AWQ.scaledColumns(v.weight, s)
        }
        if let s = fold.attentionOutput {
            try check(s, o.weight.columns, "attention output")
            guard v.weight.rows == o.weight.columns else {
                throw ModelError(.badShape, "layer \(index): v_proj has \(v.weight.rows) outputs but o_proj \(o.weight.columns) inputs; v → o cannot be scaled (grouped-query attention)")
            }
            result.v = Self.dividedRows(result.v, s)
            result.o.weight = AWQ.scaledColumns(o.weight, s)
        }
        if let s = fold.mlpInput {
            try check(s, postAttentionNorm.count, "MLP input")
            result.postAttentionNorm = zip(postAttentionNorm, s).map { $0 / $1 }
            result.gate.weight = AWQ.scaledColumns(gate.weight, s)
            result.up.weight = AWQ.scaledColumns(up.weight, s)
        }
        if let s = fold.mlpOutput {
            try check(s, down.weight.columns, "MLP output")
            result.up = Self.dividedRows(result.up, s)
            result.down.weight = AWQ.scaledColumns(down.weight, s)
        }
        return result
    }

    private static func dividedRows(_ linear: Linear, _ s: [Float]) -> Linear {
        Linear(weight: AWQ.dividedRows(linear.weight, s), bias: linear.bias.map { zip($0, s).map { $0 / $1 } })
    }
}
