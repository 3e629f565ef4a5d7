import Checkpoint
import Datasets
import Foundation
@testable import Model
import Testing

@Suite("Perplexity and divergence against the NumPy reference")
struct EvaluationTests {
    /// eval.json, written by make_forward_fixtures.py from forward_reference.py.
    struct Reference: Decodable {
        struct Perplexity: Decodable {
            let perplexity: Double
            let mean_nll: Double
            let token_count: Int
        }
        struct Model: Decodable {
            let perplexity: Double
            let mean_nll: Double
            let token_count: Int
            let max_windows_2: Perplexity
        }
        struct Divergence: Decodable {
            let reference: String
            let candidate: String
            let mean: Double
            let max: Double
            let positions: Int
        }
        let seq_len: Int
        let perplexity: [String: Model]
        let kl: Divergence

        static func load() throws -> Reference {
            try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("eval.json"))))
        }
    }

    /// Mean NLL is a mean of float32 log-probabilities (errors ≈ 1e-6 of the logits, as in the
    /// forward tests) accumulated in Double: a relative 1e-5 bounds it with margin.
    static let nllTolerance = 1e-5

    static func windows(maxWindows: Int? = nil) throws -> EvaluationWindows {
        let tokens = try TokenFile.read(Fixtures.path("eval_tokens.json"))
        return try EvaluationWindows(tokens: tokens, length: try Reference.load().seq_len, maxWindows: maxWindows)
    }

    @Test("perplexity, mean NLL and token count equal the reference's", arguments: FixtureModel.allCases, [1, 2, 8])
    func perplexity(model: FixtureModel, windowsPerBatch: Int) throws {
        let expected = try #require(try Reference.load().perplexity[model.rawValue])
        let options = Evaluation.Options(windowsPerBatch: windowsPerBatch, execution: ExecutionOptions(chunkTokens: 16), logitsChunkTokens: 7)
        let result = try Evaluation.perplexity(source: try model.source(), windows: try Self.windows(), options: options)
        #expect(result.windows == 3)
        #expect(result.predictedTokens == expected.token_count)
        #expect(abs(result.meanNegativeLogLikelihood - expected.mean_nll) < Self.nllTolerance * expected.mean_nll,
                "\(model): mean NLL \(result.meanNegativeLogLikelihood), expected \(expected.mean_nll)")
        #expect(abs(result.perplexity / expected.perplexity - 1) < 2 * Self.nllTolerance * expected.mean_nll)

        let limited = try Evaluation.perplexity(source: try model.source(), windows: try Self.windows(maxWindows: 2), options: options)
        #expect(limited.predictedTokens == expected.max_windows_2.token_count)
        #expect(abs(limited.meanNegativeLogLikelihood - expected.max_windows_2.mean_nll) < Self.nllTolerance * expected.max_windows_2.mean_nll)
    }

    @Test("KL divergence between two models equals the reference's; a model against itself gives 0")
    func divergence() throws {
        let reference = try Reference.load().kl
        let p = try #require(FixtureModel(rawValue: reference.reference)).source()
        let q = try #require(FixtureModel(rawValue: reference.candidate)).source()
        let comparison = try Evaluation.compare(reference: p, candidate: q, windows: try Self.windows(),
                                                options: Evaluation.Options(windowsPerBatch: 2, logitsChunkTokens: 4))
        #expect(comparison.reference.predictedTokens == reference.positions)
        #expect(abs(comparison.meanDivergence - reference.mean) < Self.nllTolerance * reference.mean, "mean KL \(comparison.meanDivergence), expected \(reference.mean)")
        #expect(abs(comparison.maxDivergence - reference.max) < Self.nllTolerance * reference.max)
        let expected = try Reference.load().perplexity
        #expect(abs(comparison.reference.meanNegativeLogLikelihood - expected[reference.reference]!.mean_nll) < 1e-4)
        #expect(abs(comparison.candidate.meanNegativeLogLikelihood - expected[reference.candidate]!.mean_nll) < 1e-4)

        let itself = try Evaluation.compare(reference: p, candidate: try FixtureModel.llama.source(), windows: try Self.windows())
        // Same weights, same computation: identical logits, so every term is exactly 0.
        #expect(itself.totalDivergence == 0)
        #expect(itself.reference == itself.candidate)
    }
}

@Suite("Evaluation input checks")
struct EvaluationInputTests {
    @Test("windows longer than max_position_embeddings are refused before any work, naming the limit")
    func tooLongWindows() throws {
        let windows = try EvaluationWindows(tokens: (0..<70).map { Int32($0) }, length: 33)
        #expect(windows.count == 2 && windows.predictedTokens == 64)
        let error = #expect(throws: ModelError.self) { try Evaluation.perplexity(source: try FixtureModel.llama.source(), windows: windows) }
        #expect(error?.code == .sequenceTooLong)
        #expect(error?.message.contains("max_position_embeddings of 32") == true)
    }
}
