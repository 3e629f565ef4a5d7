import Foundation
import JobProtocol
import Kernels
import Model
import TestSupport
import Testing
import WorkerCore

/// The worker's side without a coordinator: requests out of turn, the replies' echo of what they
/// answer, and `SerialWorker`'s reset, on the random llama of the forward-pass fixtures.
@Suite("worker core")
struct SerialWorkerTests {
    static let llama = Repository.model("llama")

    static func job(_ id: String) throws -> WorkerJob {
        let config = try Data(contentsOf: URL(fileURLWithPath: llama + "/config.json"))
        return WorkerJob(jobID: id, modelPath: llama, configJSON: Array(config), sequences: [[1, 2, 3, 4], [5, 6, 7]], firstSample: 0, threads: 0)
    }

    @Test("requests out of turn are refused, naming the layer or job, and change nothing")
    func outOfTurn() async throws {
        let worker = SerialWorker(index: 0)
        await #expect(throws: WorkerError("layer 0: no job started")) { try await worker.send(.loadLayer(index: 0, weights: nil)) }
        #expect(try await worker.send(.start(Self.job("a"), embeddings: nil)) == .started(tokens: 7))
        await #expect(throws: WorkerError("job b: this worker already runs job a")) { try await worker.send(.start(Self.job("b"), embeddings: nil)) }
        #expect(try await worker.send(.loadLayer(index: 1, weights: nil)) == .loaded(layer: 1))
        await #expect(throws: WorkerError("layer 1: layer 1 is still loaded")) { try await worker.send(.loadLayer(index: 1, weights: nil)) }
        await #expect(throws: WorkerError("layer 1: true-sequential capture takes one stage at a time, got [qkv, o]")) {
            try await worker.send(.capture(layer: 1, stages: [.qkv, .o]))
        }
        // The refusals left the worker where it was: the loaded layer's first stage captures.
        guard case .statistics(layer: 1, let parts) = try await worker.send(.capture(layer: 1, stages: [.qkv])) else {
            Issue.record("capture did not answer with layer 1's statistics")
            return
        }
        #expect(parts.count == 1 && parts[0].tokenCount == 7)
    }

    @Test("reset drops the job: a new one starts, and the old layer is gone")
    func reset() async throws {
        let worker = SerialWorker(address: "test")
        _ = try await worker.send(.start(Self.job("a"), embeddings: nil))
        _ = try await worker.send(.loadLayer(index: 0, weights: nil))
        await worker.reset()
        #expect(try await worker.send(.start(Self.job("b"), embeddings: nil)) == .started(tokens: 7))
        #expect(try await worker.send(.loadLayer(index: 0, weights: nil)) == .loaded(layer: 0))
        #expect(worker.address == "test")
    }
}
