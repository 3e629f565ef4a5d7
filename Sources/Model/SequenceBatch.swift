/// The layout of a batch of token sequences concatenated along the token axis: sequence `s`
/// occupies rows `offsets[s] ..< offsets[s] + lengths[s]` of every [tokens, width] buffer, and
/// its positions restart at 0.
public struct SequenceBatch: Sendable, Equatable {
    /// Tokens of each sequence (each ≥ 1).
    public let lengths: [Int]
    /// First row of each sequence.
    public let offsets: [Int]
    /// Total number of tokens (rows).
    public let tokenCount: Int

    /// The rows of each sequence.
    public var rowRanges: [Range<Int>] { zip(offsets, lengths).map { $0..<($0 + $1) } }

    /// A batch of sequences of `lengths` tokens.
    /// - Throws: `ModelError.badInput` for an empty batch or a sequence of no tokens.
    public init(lengths: [Int]) throws {
        guard !lengths.isEmpty else { throw ModelError(.badInput, "a batch needs at least one sequence") }
        if let index = lengths.firstIndex(where: { $0 < 1 }) {
            throw ModelError(.badInput, "sequence \(index) has \(lengths[index]) tokens; every sequence needs at least one")
        }
        var offsets: [Int] = []
        offsets.reserveCapacity(lengths.count)
        var total = 0
        for length in lengths {
            offsets.append(total)
            total += length
        }
        self.lengths = lengths
        self.offsets = offsets
        tokenCount = total
    }

    /// Number of sequences.
    public var count: Int { lengths.count }

    /// Length of the longest sequence.
    public var maxLength: Int { lengths.max() ?? 0 }

    /// Rows of sequence `index`.
    public func rows(of index: Int) -> Range<Int> { offsets[index] ..< offsets[index] + lengths[index] }

    /// Checks every length against the model's limit.
    /// - Throws: `ModelError.sequenceTooLong` naming the sequence and `max_position_embeddings`.
    public func validate(maxPositionEmbeddings limit: Int) throws {
        if let index = lengths.firstIndex(where: { $0 > limit }) {
            throw ModelError(.sequenceTooLong, "sequence \(index) has \(lengths[index]) tokens, more than the model's max_position_embeddings of \(limit)")
        }
    }
}
