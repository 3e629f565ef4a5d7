import Kernels
import ModelConfiguration

/// Runs a model layer by layer over the hidden states of a set of sequences, holding one layer's
/// weights at a time: load layer i from the source, run it, release it. Peak memory is about the
/// hidden states + one layer's float32 weights + the executor's workspaces.
public final class LayerStreamingRunner {
    public let source: any WeightSource
    public let executor: LayerExecutor
    /// The next layer `run` executes.
    public private(set) var nextLayer = 0
    /// The largest float32 layer loaded so far, in bytes.
    public private(set) var largestLayerBytes = 0

    /// Embeds `sequences` (each from position 0) as the input of layer 0.
    /// - Throws: `ModelError.sequenceTooLong` naming `max_position_embeddings`, `.badInput` for an
    ///   empty sequence or a token outside the vocabulary, or the source's errors.
    public init(source: any WeightSource, sequences: [ArraySlice<Int32>], options: ExecutionOptions = ExecutionOptions()) throws {
        let batch = try SequenceBatch(lengths: sequences.map(\.count))
        try batch.validate(maxPositionEmbeddings: source.config.maxPositionEmbeddings)
        var tokens: [Int32] = []
        tokens.reserveCapacity(batch.tokenCount)
        for sequence in sequences { tokens.append(contentsOf: sequence) }
        self.source = source
        executor = try LayerExecutor(
            config: source.config, states: HiddenStates(batch: batch, values: try source.embeddings(of: tokens)), options: options)
    }

    /// The current hidden states (the input of layer `nextLayer`; the last layer's output once
    /// every layer ran).
    public var states: HiddenStates { executor.states }

    /// Runs layers `nextLayer ..< end` whole, loading and releasing each.
    /// - Parameters:
    ///   - end: one past the last layer to run; every remaining layer when nil.
    ///   - observer: sees every stage input of every layer (see `LayerExecutor.forward`).
    public func run(through end: Int? = nil, observer: ((_ layer: Int, StageInput) throws -> Void)? = nil) throws {
        let last = end ?? source.config.numHiddenLayers
        precondition(last <= source.config.numHiddenLayers, "run(through: \(last)) past the model's \(source.config.numHiddenLayers) layers")
        while nextLayer < last {
            let index = nextLayer
            let weights = try source.layer(index)
            if index + 1 < last { source.prefetchLayer(index + 1) }
            largestLayerBytes = max(largestLayerBytes, weights.byteCount)
            if let observer {
                try executor.forward(weights) { try observer(index, $0) }
            } else {
                try executor.forward(weights)
            }
            source.releaseLayer(index)
            nextLayer += 1
        }
    }
}
