import Kernels
import ModelConfiguration

/// Where a model's float32 weights come from: a checkpoint on disk (`CheckpointWeightSource`),
/// a quantized checkpoint dequantized on load, weights received over the network… Everything
/// that runs a model (`LayerStreamingRunner`, `Evaluation`) reads weights only through this.
///
/// Implementations validate what they return (shapes against `config`, finite values) and
/// throw errors that name the tensor.
public protocol WeightSource {
    /// The model's architecture.
    var config: ModelConfig { get }

    /// The embedding rows of `tokens`: tokens.count × hiddenSize.
    /// - Throws: `ModelError.badInput` for a token id outside the vocabulary.
    func embeddings(of tokens: [Int32]) throws -> Matrix

    /// The weights of decoder layer `index` (0 ..< numHiddenLayers).
    func layer(_ index: Int) throws -> LayerWeights

    /// Tells the source that layer `index` will not be read again soon (a checkpoint drops its
    /// pages from memory). The default does nothing.
    func releaseLayer(_ index: Int)

    /// Tells the source that layer `index` is read next (a checkpoint starts reading its tensors
    /// from disk in the background, so the read overlaps the current layer's work). The default
    /// does nothing.
    func prefetchLayer(_ index: Int)

    /// The final RMSNorm and the output projection (lm_head, or the embedding when tied).
    func outputWeights() throws -> OutputWeights
}

extension WeightSource {
    public func releaseLayer(_ index: Int) {}
    public func prefetchLayer(_ index: Int) {}
}

/// The model's last steps: final RMSNorm, then logits = norm(h)·headᵀ.
public struct OutputWeights: Sendable {
    /// `model.norm.weight`: hiddenSize values.
    public var norm: [Float]
    /// vocabSize × hiddenSize (`lm_head.weight`, or `model.embed_tokens.weight` when tied).
    public var head: Matrix

    public init(norm: [Float], head: Matrix) {
        self.norm = norm
        self.head = head
    }
}
