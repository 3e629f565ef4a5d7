import CoordinatorCore
import Foundation
import RemoteWorkers
import Testing
import WorkerService

@Suite("solves spread over fewer workers")
struct SolvePlacementJobTests {
    static func run(_ workers: JobWorkers, solveWorkers: Int?) async throws -> JobReport {
        try await run(workers, recipe: JobOverWireTests.recipe()) { $0.solveWorkers = solveWorkers }
    }

    /// The fixture job on `workers`, with `recipe` and the inputs `configure` sets; the workers are shut down after.
    static func run(_ workers: JobWorkers, recipe: Recipe, _ configure: (inout JobInputs) -> Void) async throws -> JobReport {
        let out = NSTemporaryDirectory() + "calibrate-placement-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        var inputs = JobInputs(modelPath: JobOverWireTests.model("llama"), outputPath: out, overwrite: false, recipe: recipe,
                               sequences: JobOverWireTests.samples(), workerThreads: 1, statisticsBatchTokens: 26)
        configure(&inputs)
        do {
            let report = try await CalibrationJob(inputs: inputs, workers: workers.connections).run()
            await workers.shutdown()
            return report
        } catch {
            await workers.shutdown()
            throw error
        }
    }

    @Test("3 workers over the transport, solving on at most 1, on all, or as the measured rates pay: the bytes of in-process workers; the report says where each stage was solved")
    func sameBytes() async throws {
        let direct = try await Self.run(JobOverWireTests.inProcess(3), solveWorkers: nil)
        var everyWorker: [String: Int] = [:]
        for limit in [Int.max, 1, nil] as [Int?] {
            let workers = try await JobWorkers.embedded(count: 3, configuration: JobOverWireTests.pool, makeHandler: { _ in CalibrationHandler() })
            let report = try await Self.run(workers, solveWorkers: limit)
            #expect(report.shards.map(\.sha256) == direct.shards.map(\.sha256), "--solve-workers \(limit.map(String.init) ?? "auto")")
            let solvers = report.layers.map { $0.solvers ?? [:] }
            #expect(solvers.allSatisfy { Set($0.keys) == ["qkv", "o", "gate_up", "down"] }, "\(solvers)")
            switch limit {
            case Int.max?:
                // q, k, v: a piece each; o's and down's 64 rows: one piece (SolvePlan's 64-row minimum).
                everyWorker = solvers.first ?? [:]
                #expect(everyWorker["qkv"] == 3 && everyWorker["o"] == 1, "\(solvers)")
                #expect(solvers.allSatisfy { $0 == everyWorker }, "\(solvers)")
            case 1?: #expect(solvers.allSatisfy { $0.values.allSatisfy { $0 == 1 } }, "\(solvers)")
            default: #expect(solvers.first == everyWorker, "layer 0, nothing measured yet: spread over every worker; \(solvers)")
            }
            #expect(report.markdown().contains("solved on (workers)"))
        }
    }
}

@Suite("GPTQ factors made on the solving workers")
struct FactorOnWorkersJobTests {
    @Test("factors made by the solving workers (forced, and auto: here first, there next, then the faster), GPTQ with and without act-order: the bytes of factors made here; the report says where", arguments: [false, true])
    func sameBytes(actOrder: Bool) async throws {
        var recipe = JobOverWireTests.recipe()
        recipe.actOrder = actOrder
        func run(_ place: FactorPlace) async throws -> JobReport {
            let workers = try await JobWorkers.embedded(count: 2, configuration: JobOverWireTests.pool, makeHandler: { _ in CalibrationHandler() })
            return try await SolvePlacementJobTests.run(workers, recipe: recipe) { $0.factorOn = place }
        }
        let here = try await run(.coordinator)
        let there = try await run(.workers)
        let auto = try await run(.auto)
        #expect(there.shards.map(\.sha256) == here.shards.map(\.sha256))
        #expect(auto.shards.map(\.sha256) == here.shards.map(\.sha256))
        #expect(here.layers.allSatisfy { $0.factoredOnWorkers == nil })
        #expect(there.layers.allSatisfy { Set($0.factoredOnWorkers ?? []) == ["qkv", "o", "gate_up", "down"] }, "\(there.layers.map(\.factoredOnWorkers))")
        // auto: the first factor here (the coordinator's rate), the next on the workers (theirs), then the faster.
        let first = auto.layers.first?.factoredOnWorkers ?? []
        #expect(!first.contains("qkv") && first.contains("o"), "\(auto.layers.map(\.factoredOnWorkers))")
        // The damping the workers used is reported as the coordinator's would be.
        #expect(there.layers.flatMap(\.modules).map(\.damp) == here.layers.flatMap(\.modules).map(\.damp))
        #expect(there.markdown().contains("(factor there)"))
    }
}
