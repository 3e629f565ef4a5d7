import Foundation
import Tensors

/// The architecture of a decoder-only model, read from a Hugging Face `config.json`.
///
/// Supported families share the Llama layer (RMSNorm, RoPE, grouped-query attention, SwiGLU);
/// they differ in which projections carry a bias and whether q and k are normalized per head:
///
/// | model_type | q/k/v bias        | o_proj bias       | q_norm/k_norm | MLP bias |
/// |------------|-------------------|-------------------|---------------|----------|
/// | llama      | attention_bias    | attention_bias    | no            | mlp_bias |
/// | mistral    | no                | no                | no            | no       |
/// | qwen2      | always            | no                | no            | no       |
/// | qwen3      | attention_bias    | attention_bias    | yes           | no       |
public struct ModelConfig: Sendable, Equatable {
    public enum ModelType: String, Sendable, CaseIterable {
        case llama, mistral, qwen2, qwen3
    }

    /// Rotary embedding frequency scaling.
    public enum RopeScaling: Sendable, Equatable {
        /// Plain RoPE.
        case none
        /// Llama 3.1's scaling: long wavelengths divided by `factor`, short ones kept, a smooth
        /// ramp in between (from `lowFrequencyFactor`/`highFrequencyFactor` of the original length).
        case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalMaxPositionEmbeddings: Int)
    }

    public var modelType: ModelType
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    public var qkvBias: Bool
    public var oProjBias: Bool
    public var mlpBias: Bool
    public var qkNorm: Bool
    /// Attention window (Mistral); nil means full causal attention.
    public var slidingWindow: Int?
    /// The dtype the weights are stored in (`torch_dtype`, or `dtype` in newer configs).
    public var torchDtype: DType

    /// Width of the query projection's output.
    public var queryWidth: Int { numAttentionHeads * headDim }
    /// Width of the key and value projections' outputs.
    public var keyValueWidth: Int { numKeyValueHeads * headDim }
}
