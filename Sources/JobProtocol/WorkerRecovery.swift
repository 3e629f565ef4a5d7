import Kernels
import Model
import Tensors

/// Samples a worker takes over from a lost one: whole statistics blocks of the global sample
/// order, so that every block's statistics are computed from the same rows as before.
public struct AdoptedSamples: Sendable, Equatable {
    /// Global sample ranges, each a run of whole statistics blocks (starting on a block boundary;
    /// only the job's last block may be short), in the order `sequences` holds them.
    public var blocks: [Range<Int>]
    /// The token ids of every sample of `blocks`, in order.
    public var sequences: [[Int32]]
    /// Their embedding rows when the coordinator streams the weights (as `.start` sends them).
    public var embeddings: Tensor?
    /// Their hidden states at the input of the adopter's next layer [tokens, hidden], as another
    /// worker released them: adopted as they are, with nothing to replay.
    public var states: Tensor?

    public init(blocks: [Range<Int>], sequences: [[Int32]], embeddings: Tensor? = nil, states: Tensor? = nil) {
        self.blocks = blocks
        self.sequences = sequences
        self.embeddings = embeddings
        self.states = states
    }
}

/// A completed layer as the workers ran it: loaded (from the model path, or from `weights` when
/// streaming), then the state-changing requests of its calibration in the order they were sent
/// (folds and applies; captures, searches and solves change no hidden state and are left out).
/// Replayed on adopted samples, it gives them the hidden states the lost worker had (each
/// sequence's rows depend on that sequence alone).
public struct LayerReplay: Sendable, Equatable {
    public enum Step: Sendable, Equatable {
        case fold(LayerFold)
        /// The stage's weights as applied: quantized ones, nil for linears kept as they are.
        case apply(LayerStage, [QuantizedWeights?])
    }

    public var layer: Int
    public var weights: [String: Tensor]?
    public var steps: [Step]

    public init(layer: Int, weights: [String: Tensor]?, steps: [Step]) {
        self.layer = layer
        self.weights = weights
        self.steps = steps
    }
}
