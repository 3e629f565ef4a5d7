import Foundation
import JobProtocol
import Kernels
import Model
import ModelConfiguration
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

    @Test("with --models, a model outside the named directories is refused before it is touched; one inside starts")
    func modelDirectories() async throws {
        let llamaURL = URL(fileURLWithPath: Self.llama).standardizedFileURL
        let parent = llamaURL.deletingLastPathComponent().path
        let inside = SerialWorker(address: "w", models: ModelDirectories([parent]))
        #expect(try await inside.send(.start(Self.job("a"), embeddings: nil)) == .started(tokens: 7))

        let elsewhere = NSTemporaryDirectory() + "calibrate-models-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        // A link inside the allowed directory pointing at the model outside it is refused too.
        try FileManager.default.createSymbolicLink(atPath: elsewhere + "/link", withDestinationPath: llamaURL.path)
        for path in [Self.llama, "/etc/shadow", elsewhere + "/../" + URL(fileURLWithPath: elsewhere).lastPathComponent + "/nothing", elsewhere + "/link", elsewhere + "/link/../../../etc"] {
            let worker = SerialWorker(address: "w", models: ModelDirectories([elsewhere + "/sub"]))
            var job = try Self.job("b")
            job.modelPath = path
            let error = await #expect(throws: WorkerError.self) { try await worker.send(.start(job, embeddings: nil)) }
            #expect(error?.message.contains("the model path \(path) is outside the directories this worker reads models from") == true, "\(String(describing: error))")
        }
        let linked = SerialWorker(address: "w", models: ModelDirectories([elsewhere]))
        var job = try Self.job("c")
        job.modelPath = elsewhere + "/link"
        await #expect(throws: WorkerError.self) { try await linked.send(.start(job, embeddings: nil)) }
    }

    @Test("a job whose config does not fit the tensors on the worker's disk is refused, naming the tensor")
    func configAgainstTensors() async throws {
        var job = try Self.job("a")
        var config = try JSONSerialization.jsonObject(with: Data(job.configJSON)) as! [String: Any]
        config["intermediate_size"] = 1 << 20
        job.configJSON = Array(try JSONSerialization.data(withJSONObject: config))
        let error = await #expect(throws: ModelError.self) { try await SerialWorker(index: 0).send(.start(job, embeddings: nil)) }
        // The first tensor whose shape depends on intermediate_size, in checkpoint order.
        #expect(error?.code == .badShape && error?.tensor == "model.layers.0.mlp.gate_proj.weight", "\(String(describing: error))")
    }

    @Test("a job whose samples' state would not fit this worker's memory is refused before anything is allocated, naming the sizes")
    func memoryLimit() async throws {
        let job = try Self.job("a")
        let config = try ModelConfig(parsing: Data(job.configJSON), file: "config.json")
        let needed = try #require(LayerExecutor.calibrationBytes(config: config, tokens: 7))
        #expect(needed == 7 * (2 * config.hiddenSize + max(config.hiddenSize, config.queryWidth, config.intermediateSize)) * 4)
        let tight = SerialWorker(address: "w", memoryLimit: needed - 1)
        let error = await #expect(throws: WorkerError.self) { try await tight.send(.start(job, embeddings: nil)) }
        #expect(error?.message.contains("7 tokens of this model need") == true && error?.message.contains("fewer samples") == true, "\(String(describing: error))")
        #expect(try await SerialWorker(address: "w", memoryLimit: needed).send(.start(job, embeddings: nil)) == .started(tokens: 7))
        // Sizes whose product overflows are refused the same way.
        #expect(LayerExecutor.calibrationBytes(config: config, tokens: Int.max / 2) == nil)
    }
}
