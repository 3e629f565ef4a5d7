import Kernels

/// The hidden states of a batch of sequences: a [tokens, hidden] row-major matrix whose rows
/// follow `batch` (sequences concatenated, see `SequenceBatch`).
public struct HiddenStates: Sendable {
    public let batch: SequenceBatch
    /// `batch.tokenCount` rows of `hiddenSize` values.
    public internal(set) var values: Matrix

    /// Wraps `values`, one row per token of `batch`.
    /// - Throws: `ModelError.badShape` when the row count differs from the batch's token count.
    public init(batch: SequenceBatch, values: Matrix) throws {
        guard values.rows == batch.tokenCount else {
            throw ModelError(.badShape, "hidden states have \(values.rows) rows for a batch of \(batch.tokenCount) tokens")
        }
        self.batch = batch
        self.values = values
    }

    /// Width of every row.
    public var hiddenSize: Int { values.columns }

    /// Bytes the values occupy.
    public var byteCount: Int { values.values.count * MemoryLayout<Float>.size }
}
