import Cluster
import CoordinatorCore
import Foundation
import JobProtocol
import Model
import ModelConfiguration
import Checkpoint
import RemoteWorkers
import Testing
import WorkerService

/// `JobPlan`'s bytes against a job's counted traffic: a random Llama of 256 hidden / 512 MLP
/// (large enough that tensor headers are a small part of each message) on 2 workers over the
/// in-process transport, every request kind compared.
@Suite("the plan's traffic against a job's")
struct JobPlanTrafficTests {
    @Test("per request kind, the planned bytes are what the job moved: quantized weights and factors within 5 %, packed statistics between 1 and 16 bytes a sum, the start within 10 %",
          arguments: [false, true])
    func bytesPerKind(streamed: Bool) async throws {
        let model = NSTemporaryDirectory() + "calibrate-plan-model-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: model) }
        try RandomCheckpoint.write(.init(hidden: 256, intermediate: 512, layers: 2, heads: 4, keyValueHeads: 2), to: model)
        var recipe = Recipe()
        (recipe.groupSize, recipe.samples, recipe.sequenceLength, recipe.streamWeights) = (64, 24, 32, streamed)
        let sequences = (0..<recipe.samples).map { s in (0..<recipe.sequenceLength).map { Int32((s * 31 + $0 * 7) % 128) } }
        let out = NSTemporaryDirectory() + "calibrate-plan-out-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let workers = try await JobWorkers.embedded(count: 2, configuration: JobOverWireTests.pool, makeHandler: { _ in CalibrationHandler() })
        // Solves on every worker in both: the spread the job measures its way to is not what this compares.
        var inputs = JobInputs(modelPath: model, outputPath: out, overwrite: false, recipe: recipe, sequences: sequences, workerThreads: 1)
        inputs.solveWorkers = Int.max
        let job = try CalibrationJob(inputs: inputs, workers: workers.connections)
        let report = try await job.run()
        await workers.shutdown()

        var measured: [String: JobReport.Bytes] = [:]
        for link in report.processes.compactMap(\.traffic) { measured.merge(link, uniquingKeysWith: +) }
        let config = try ModelConfig(directory: model)
        let rates = JobPlan.Rates(forwardGFLOPS: 1, statisticsGFLOPS: 1, solveGFLOPS: 1, factorGFLOPS: 1, packBytesPerSecond: 1e9, unpackBytesPerSecond: 1e9,
                                  mergeBytesPerSecond: 1e9, memoryBytesPerSecond: 1e9, workerLinkBytesPerSecond: 1e9, coordinatorLinkBytesPerSecond: 1e9,
                                  diskBytesPerSecond: 1e9)
        let plan = JobPlan(config: config, recipe: recipe, workers: 2, rates: rates, sourceBytesPerWeight: 2, solveWorkers: Int.max)
        let layers = Double(config.numHiddenLayers)
        func check(_ kind: String, sent: Bool, within tolerance: Double) {
            let planned = (sent ? plan.layerTraffic.sent[kind] : plan.layerTraffic.received[kind]) ?? 0
            let actual = Double((sent ? measured[kind]?.sent : measured[kind]?.received) ?? 0)
            #expect(actual > 0 && abs(planned * layers - actual) <= tolerance * actual,
                    "\(kind) \(sent ? "sent" : "received"): planned \(planned * layers) B, the job \(actual) B")
        }
        check("solve", sent: true, within: 0.05)
        check("solve", sent: false, within: 0.05)
        check("apply", sent: true, within: 0.05)
        // Packed statistics take 1 to 16 bytes a sum, by the sums' magnitudes: 5.1 on SmolLM2's
        // 65,536 tokens a worker, ≈ 2 on these 384. What holds for any data: the planned bytes at
        // 1 and 16 bytes a sum bound the job's.
        let capture = Double(measured["capture"]?.received ?? 0)
        let perSum = (plan.layerTraffic.received["capture"] ?? 0) * layers / plan.rates.packedBytesPerSum
        #expect(capture > 0.9 * perSum && capture < 16 * perSum, "capture: \(capture) B, \(capture / perSum) bytes a sum")
        if streamed { check("load", sent: true, within: 0.05) }
        let start = Double(measured["start"]?.sent ?? 0)
        #expect(abs(plan.startBytes - start) <= 0.1 * start + 2048, "start: planned \(plan.startBytes) B, the job \(start) B")
    }
}
