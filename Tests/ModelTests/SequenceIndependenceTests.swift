import Kernels
@testable import Model
import ModelConfiguration
import Testing
import TestSupport

/// What makes the job's output independent of how samples are split over workers, and what a
/// lost worker's samples can be replayed by: with the workers' options (one sequence per product,
/// cut at multiples of `chunkTokens` from the sequence's start), every row of a sequence — each
/// stage's input and each layer's output — is the same bits whatever else is in the batch and in
/// which order.
@Suite("a sequence's activations depend on that sequence alone")
struct SequenceIndependenceTests {
    /// Per sequence of `sequences`: its rows of every stage input and layer output, stage by
    /// stage through every layer, one array per point in that order.
    static func rows(_ model: FixtureModel, _ sequences: [[Int32]], chunkTokens: Int) throws -> [[[Float]]] {
        let source = try model.source()
        let options = ExecutionOptions(chunkTokens: chunkTokens, attentionBlockRows: 3, packSequences: false)
        let executor = try LayerExecutor(config: source.config, states: try .embedding(sequences.map { $0[...] }, source), options: options)
        let batch = executor.batch
        var result = [[[Float]]](repeating: [], count: sequences.count)
        func record(_ values: UnsafeBufferPointer<Float>, width: Int) {
            for (index, rows) in batch.rowRanges.enumerated() {
                result[index].append(Array(values[(rows.lowerBound * width)..<(rows.upperBound * width)]))
            }
        }
        for layer in 0..<source.config.numHiddenLayers {
            try executor.begin(try source.layer(layer))
            for stage in LayerStage.allCases {
                try executor.withStageInput(stage) { input in record(input.values, width: input.width) }
                try executor.apply(stage)
            }
            executor.states.values.values.withUnsafeBufferPointer { record($0, width: executor.states.hiddenSize) }
        }
        return result
    }

    @Test("a sequence's rows are the same alone, in a batch, and in another order", arguments: [FixtureModel.llama, .qwen3, .mistral])
    func independent(model: FixtureModel) throws {
        // Lengths around the chunk (8): shorter, equal, across one and several boundaries.
        var generator = SplitMix64(seed: 15)
        let sequences = [13, 5, 8, 20, 32].map { length in (0..<length).map { _ in Int32(generator.next() % 101) } }
        let batched = try Self.rows(model, sequences, chunkTokens: 8)
        let reordered = try Self.rows(model, sequences.reversed(), chunkTokens: 8)
        for (index, sequence) in sequences.enumerated() {
            let alone = try Self.rows(model, [sequence], chunkTokens: 8)[0]
            #expect(!alone.isEmpty)
            #expect(batched[index] == alone, "\(model): sequence \(index) (\(sequence.count) tokens) in the batch differs from alone")
            #expect(reordered[sequences.count - 1 - index] == alone, "\(model): sequence \(index) in the reversed batch differs from alone")
        }
        // The comparison sees context: the same 5 tokens after another 13 in one sequence give
        // the same first input (input_layernorm of the embeddings) but other rows from the first
        // attention on.
        let (first, second) = (sequences[0].count, sequences[1].count)
        let joined = try Self.rows(model, [sequences[0] + sequences[1]], chunkTokens: 8)[0]
        let tails = joined.map { point in Array(point.suffix(point.count / (first + second) * second)) }
        let alone = try Self.rows(model, [sequences[1]], chunkTokens: 8)[0]
        #expect(tails.count == alone.count && tails[0] == alone[0])
        #expect(zip(tails, alone).dropFirst().allSatisfy { $0 != $1 }, "\(model): context does not change the later points")
    }
}
