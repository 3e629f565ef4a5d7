import CoordinatorCore
import Foundation
import JobProtocol
import Testing
import TestSupport
import WorkerCore

/// Hands out prepared workers, and names workers to let go, at chosen calls: the job asks at
/// every layer boundary, so call k is layer k's start in a job that loses nobody.
final class ScriptedJoining: WorkerJoining, @unchecked Sendable {
    private let lock = NSLock()
    private var calls = 0
    private var script: [Int: [any WorkerConnection]]
    /// From call k on, these addresses are to leave (as a hosts file without them would say).
    private let departures: [Int: Set<String>]
    private var liveSets: [Set<String>] = []

    init(_ script: [Int: [any WorkerConnection]], leaving departures: [Int: Set<String>] = [:]) {
        self.script = script
        self.departures = departures
    }

    /// The live workers' addresses the job gave at each call.
    var excluded: [Set<String>] { lock.withLock { liveSets } }

    func changes(live: Set<String>) async -> WorkerChanges {
        lock.withLock {
            defer { calls += 1 }
            liveSets.append(live)
            let leaving = departures.filter { $0.key <= calls }.values.reduce(into: Set<String>()) { $0.formUnion($1) }
            return WorkerChanges(joining: script.removeValue(forKey: calls) ?? [], leaving: leaving.intersection(live))
        }
    }
}

/// A worker that refuses every request with an error that is not a loss (it cannot read the model).
struct RefusingWorker: WorkerConnection {
    struct Refused: Error, CustomStringConvertible { var description: String { "cannot read the model" } }
    let address = "refusing #9"
    let capacity = 1
    func send(_ request: WorkerRequest) async throws -> WorkerReply { throw Refused() }
    func traffic() async -> WorkerTraffic { WorkerTraffic() }
}

/// Workers joining a running job (docs/ARCHITECTURE.md, "Joining workers"): the job grows at a
/// layer boundary and writes the bytes of a job that had its workers from the start.
@Suite("joining workers")
struct JoiningWorkerTests {
    static let samples = WorkerLossTests.samples

    static func run(_ workers: [any WorkerConnection], joining: ScriptedJoining? = nil, recipe: Recipe,
                    transfer: JoinTransfer = .move) async throws -> JobReport {
        let out = NSTemporaryDirectory() + "calibrate-join-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        // 26 tokens per statistics batch: blocks of 2 of the 6 samples, 3 blocks.
        let job = try CalibrationJob(
            inputs: JobInputs(modelPath: InProcessJobTests.model("llama"), outputPath: out, overwrite: false, recipe: recipe, sequences: samples,
                              workerThreads: 1, statisticsBatchTokens: 26, joinTransfer: transfer),
            workers: workers, joining: joining)
        return try await job.run()
    }

    static func workers(_ indices: Range<Int>) -> [any WorkerConnection] { indices.map { FaultyWorker(index: $0) } }

    @Test("2 workers that grow to 3 at layer 1 write the bytes of 2 and of 3 workers; the report says who joined, what it took over and from whom",
          arguments: ["gptq", "no-true-sequential", "awq", "stream"], JoinTransfer.allCases)
    func growsToThree(recipe name: String, transfer: JoinTransfer) async throws {
        let recipe = WorkerLossTests.recipe(name)
        let two = try await Self.run(Self.workers(0..<2), recipe: recipe).shards.map(\.sha256)
        let three = try await Self.run(Self.workers(0..<3), recipe: recipe).shards.map(\.sha256)
        #expect(two == three)
        let joining = ScriptedJoining([1: Self.workers(2..<3)])
        let grown = try await Self.run(Self.workers(0..<2), joining: joining, recipe: recipe, transfer: transfer)
        #expect(grown.shards.map(\.sha256) == two)
        #expect(grown.losses.isEmpty)
        let join = try #require(grown.joins.first)
        #expect(grown.joins.count == 1)
        #expect((join.worker, join.layer, join.transfer) == ("in-process #2", 1, transfer.rawValue))
        // Blocks of 2 samples: worker 0 held 2 blocks (4 samples), worker 1 one; the newcomer takes worker 0's last.
        #expect(join.samples == 2 && join.from == ["in-process #0 2"], "\(join)")
        #expect(grown.processes.filter { $0.role == "worker" }.map(\.samples) == [2, 2, 2])
        #expect(joining.excluded.first == ["in-process #0", "in-process #1"])
        #expect(join.bytes == 0) // in-process connections count no traffic
    }

    @Test("workers that join at the first layer, two at once, with other capacities: the bytes of an undisturbed run")
    func joinAtStart() async throws {
        let recipe = WorkerLossTests.recipe("gptq")
        let undisturbed = try await Self.run(Self.workers(0..<1), recipe: recipe).shards.map(\.sha256)
        let joining = ScriptedJoining([0: [FaultyWorker(index: 1, capacity: 3), FaultyWorker(index: 2)]])
        let grown = try await Self.run(Self.workers(0..<1), joining: joining, recipe: recipe)
        #expect(grown.shards.map(\.sha256) == undisturbed)
        #expect(grown.joins.map(\.worker) == ["in-process #1", "in-process #2"])
        // 3 blocks over capacities 1, 3, 1: the first worker keeps 1, the second takes 2, the third
        // none (it still solves its share of the rows).
        #expect(grown.processes.filter { $0.role == "worker" }.map(\.samples) == [2, 4, 0])
    }

    @Test("a joiner lost while adopting, and a worker lost while releasing its samples: the others finish with the same bytes",
          arguments: ["adopt", "merge", "release"], JoinTransfer.allCases)
    func lostWhileJoining(phase: String, transfer: JoinTransfer) async throws {
        let recipe = WorkerLossTests.recipe("gptq")
        let undisturbed = try await Self.run(Self.workers(0..<2), recipe: recipe).shards.map(\.sha256)
        let donor = FaultyWorker(index: 0) { phase == "release" && FaultyWorker.name($0) == "release" }
        let joiner = FaultyWorker(index: 2) { phase != "release" && FaultyWorker.name($0) == phase }
        let joining = ScriptedJoining([1: [joiner]])
        let report = try await Self.run([donor, FaultyWorker(index: 1)], joining: joining, recipe: recipe, transfer: transfer)
        #expect(report.shards.map(\.sha256) == undisturbed)
        let loss = try #require(report.losses.first)
        #expect(loss.worker == (phase == "release" ? "in-process #0" : "in-process #2"))
        #expect(loss.layer == 1 && loss.recovered)
        #expect(report.processes.filter { $0.role == "worker" }.map(\.samples).reduce(0, +) == Self.samples.count)
    }

    @Test("a worker that cannot take the job does not join: the job goes on without it and says so")
    func refusedJoin() async throws {
        let recipe = WorkerLossTests.recipe("gptq")
        let undisturbed = try await Self.run(Self.workers(0..<2), recipe: recipe).shards.map(\.sha256)
        let report = try await Self.run(Self.workers(0..<2), joining: ScriptedJoining([1: [RefusingWorker()]]), recipe: recipe)
        #expect(report.shards.map(\.sha256) == undisturbed)
        let join = try #require(report.joins.first)
        #expect(join.transfer.hasPrefix("failed: ") && join.transfer.contains("cannot read the model"), "\(join.transfer)")
        #expect(report.processes.contains { $0.role == "worker (join failed)" && $0.address == "refusing #9" })
        #expect(report.losses.isEmpty)
        #expect(report.markdown().contains("## Joined workers"))
    }

    @Test("a worker no longer listed at layer 1 hands its samples to the others and leaves: the bytes of 3 and of 2 workers; the report says where they went",
          arguments: ["gptq", "awq"], JoinTransfer.allCases)
    func leaves(recipe name: String, transfer: JoinTransfer) async throws {
        let recipe = WorkerLossTests.recipe(name)
        let two = try await Self.run(Self.workers(0..<2), recipe: recipe).shards.map(\.sha256)
        let joining = ScriptedJoining([:], leaving: [1: ["in-process #1"]])
        let report = try await Self.run(Self.workers(0..<3), joining: joining, recipe: recipe, transfer: transfer)
        #expect(report.shards.map(\.sha256) == two)
        #expect(report.losses.isEmpty && report.joins.isEmpty)
        let departure = try #require(report.departures.first)
        #expect(report.departures.count == 1)
        // Blocks of 2 of the 6 samples, one per worker: #1's goes to #0, the first under its share of 2 blocks.
        #expect((departure.worker, departure.layer, departure.transfer, departure.samples) == ("in-process #1", 1, transfer.rawValue, 2), "\(departure)")
        #expect(departure.to == ["in-process #0 2"], "\(departure)")
        #expect(report.processes.filter { $0.role.hasPrefix("worker") }.map(\.role) == ["worker", "worker (left)", "worker"])
        #expect(report.processes.filter { $0.role.hasPrefix("worker") }.map(\.samples) == [4, 0, 2])
        #expect(report.markdown().contains("## Workers that left"))
        // Asked at both layers' boundaries (the fixture has 2), the three live at each.
        #expect(joining.excluded == Array(repeating: ["in-process #0", "in-process #1", "in-process #2"], count: 2), "\(joining.excluded)")
    }

    @Test("one worker leaves as another joins at the same boundary: the bytes of an undisturbed run")
    func replaced() async throws {
        let recipe = WorkerLossTests.recipe("gptq")
        let undisturbed = try await Self.run(Self.workers(0..<2), recipe: recipe).shards.map(\.sha256)
        let joining = ScriptedJoining([1: Self.workers(2..<3)], leaving: [1: ["in-process #0"]])
        let report = try await Self.run(Self.workers(0..<2), joining: joining, recipe: recipe)
        #expect(report.shards.map(\.sha256) == undisturbed)
        #expect(report.departures.map(\.worker) == ["in-process #0"] && report.joins.map(\.worker) == ["in-process #2"])
        #expect(report.departures.first?.samples == 4)
        #expect(report.processes.filter { $0.role == "worker" }.map(\.samples).reduce(0, +) == Self.samples.count)
    }

    @Test("the last worker, or one below --min-workers, is not let go: it stays and the job finishes with the same bytes")
    func lastStays() async throws {
        let recipe = WorkerLossTests.recipe("gptq")
        let undisturbed = try await Self.run(Self.workers(0..<1), recipe: recipe).shards.map(\.sha256)
        let report = try await Self.run(Self.workers(0..<1), joining: ScriptedJoining([:], leaving: [0: ["in-process #0"]]), recipe: recipe)
        #expect(report.shards.map(\.sha256) == undisturbed)
        #expect(report.departures.isEmpty)
        #expect(report.processes.filter { $0.role == "worker" }.map(\.samples) == [Self.samples.count])
    }

    @Test("a leaving worker lost while releasing its samples: a loss, recovered by the others with the same bytes")
    func leaverLost() async throws {
        let recipe = WorkerLossTests.recipe("gptq")
        let undisturbed = try await Self.run(Self.workers(0..<2), recipe: recipe).shards.map(\.sha256)
        let leaver = FaultyWorker(index: 1) { FaultyWorker.name($0) == "release" }
        let report = try await Self.run([FaultyWorker(index: 0), leaver], joining: ScriptedJoining([:], leaving: [1: ["in-process #1"]]), recipe: recipe)
        #expect(report.shards.map(\.sha256) == undisturbed)
        #expect(report.departures.isEmpty)
        #expect(report.losses.map(\.worker) == ["in-process #1"] && report.losses.first?.recovered == true)
    }
}
