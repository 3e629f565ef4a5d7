import CoordinatorCore
import Foundation
import JobProtocol
import Testing
import TestSupport
import WorkerCore

/// An in-process worker that is lost at a chosen request: before handling it (it never arrives),
/// or after (the work is done, the reply never comes back). From then on every request fails, as
/// a dead process's would. With `stopsJob` the failure is not a loss but an error that ends the
/// job where it is, as a killed coordinator would leave it.
final class FaultyWorker: WorkerConnection, @unchecked Sendable {
    enum Moment: String, Sendable { case before, after }
    struct CoordinatorStopped: Error {}

    let address: String
    let capacity: Int
    private let worker: SerialWorker
    private let fault: (@Sendable (WorkerRequest) -> Bool)?
    private let moment: Moment
    private let stopsJob: Bool
    private let lock = NSLock()
    private var dead = false

    init(index: Int, capacity: Int = 1, moment: Moment = .before, stopsJob: Bool = false, fault: (@Sendable (WorkerRequest) -> Bool)? = nil) {
        address = "in-process #\(index)"
        self.capacity = capacity
        worker = SerialWorker(index: index, capacity: capacity)
        self.fault = fault
        self.moment = moment
        self.stopsJob = stopsJob
    }

    /// Ends the job before request `phase` (a `name`), as if the coordinator were killed there.
    static func stoppingJob(index: Int, at phase: String) -> FaultyWorker {
        FaultyWorker(index: index, stopsJob: true) { name($0) == phase }
    }

    var isDead: Bool { lock.withLock { dead } }

    func send(_ request: WorkerRequest) async throws -> WorkerReply {
        let hit = lock.withLock { () -> Bool in
            if dead { return true }
            if fault?(request) == true && moment == .before { dead = true; return true }
            return false
        }
        if hit && stopsJob { throw CoordinatorStopped() }
        if hit { throw WorkerLost(address: address, reason: "killed by the test before \(Self.name(request))") }
        let reply = try await worker.send(request)
        let killed = lock.withLock { () -> Bool in
            if fault?(request) == true && moment == .after && !dead { dead = true; return true }
            return dead
        }
        if killed { throw WorkerLost(address: address, reason: "killed by the test after \(Self.name(request))") }
        return reply
    }

    func traffic() async -> WorkerTraffic { WorkerTraffic() }

    /// The request's phase and layer: "start", "load 1", "capture 1", "fold 1", "search 1",
    /// "solve 1", "apply 1", "finish", "rewind 1", "adopt", "replay 0", "merge", "release".
    static func name(_ request: WorkerRequest) -> String {
        ([request.kind.rawValue] + (request.layer.map { [String($0)] } ?? [])).joined(separator: " ")
    }
}

/// Lost workers in every phase (docs/ARCHITECTURE.md, "Lost workers"): the job goes on with the
/// others and writes the bytes of an undisturbed run.
@Suite("lost workers")
struct WorkerLossTests {
    static let samples = InProcessJobTests.samples(count: 6, length: 13, vocabulary: 101)

    static func recipe(_ name: String) -> Recipe {
        var recipe = InProcessJobTests.recipe
        switch name {
        case "awq": recipe = ScalingJobTests.awq
        case "w8a8": recipe = ScalingJobTests.w8a8
        case "act-order": recipe.actOrder = true
        case "no-true-sequential": recipe.trueSequential = false
        case "stream": recipe.streamWeights = true
        default: break
        }
        return recipe
    }

    /// Runs the job on `workers`; returns the report and the output directory.
    static func run(_ workers: [any WorkerConnection], recipe: Recipe, minWorkers: Int = 1) async throws -> JobReport {
        let out = NSTemporaryDirectory() + "calibrate-loss-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let job = try CalibrationJob(
            inputs: JobInputs(modelPath: InProcessJobTests.model("llama"), outputPath: out, overwrite: false, recipe: recipe, sequences: samples,
                              workerThreads: 1, statisticsBatchTokens: 26, minWorkers: minWorkers),
            workers: workers)
        return try await job.run()
    }

    static func undisturbed(_ name: String) async throws -> [String] {
        try await run((0..<3).map { FaultyWorker(index: $0) }, recipe: recipe(name)).shards.map(\.sha256)
    }

    static let phases = ["start", "load 0", "capture 1", "solve 1", "apply 0", "apply 1", "finish"]

    @Test("one of 3 workers lost in each phase, before or after its work: same bytes", arguments: ["gptq", "no-true-sequential", "act-order"])
    func lossInEachPhase(name: String) async throws {
        let expected = try await Self.undisturbed(name)
        for phase in Self.phases {
            for moment in [FaultyWorker.Moment.before, .after] {
                let victim = FaultyWorker(index: 1, moment: moment) { FaultyWorker.name($0) == phase }
                let report = try await Self.run([FaultyWorker(index: 0), victim, FaultyWorker(index: 2)], recipe: Self.recipe(name))
                #expect(victim.isDead, "\(name) \(phase) \(moment): the fault never fired")
                #expect(report.shards.map(\.sha256) == expected, "\(name): worker 1 lost \(moment) \(phase)")
                #expect(report.losses.count == 1 && report.losses.first?.worker == "in-process #1", "\(name) \(phase) \(moment): \(report.losses.map(\.worker))")
                if phase != "finish" {
                    #expect(report.losses.first?.samples == 2 && report.losses.first?.reassignedTo.isEmpty == false,
                            "\(name) \(phase) \(moment): \(String(describing: report.losses.first))")
                }
            }
        }
    }

    @Test("AWQ, SmoothQuant W8A8 and streamed weights: a worker lost in a layer's search, fold or apply", arguments: ["awq", "w8a8", "stream"])
    func lossWithScales(name: String) async throws {
        let expected = try await Self.undisturbed(name)
        let phases = name == "stream" ? ["load 1", "apply 1"] : ["search 1", "fold 1", "apply 1", "fold 0"]
        for phase in phases where name != "w8a8" || phase != "search 1" {
            let victim = FaultyWorker(index: 0, moment: .after) { FaultyWorker.name($0) == phase }
            let report = try await Self.run([victim, FaultyWorker(index: 1), FaultyWorker(index: 2)], recipe: Self.recipe(name))
            #expect(victim.isDead, "\(name) \(phase): the fault never fired")
            #expect(report.shards.map(\.sha256) == expected, "\(name): worker 0 lost after \(phase)")
        }
    }

    @Test("two of 3 workers lost, one of them while adopting the other's samples: the last one finishes alone")
    func lossDuringRecovery() async throws {
        let expected = try await Self.undisturbed("gptq")
        let first = FaultyWorker(index: 0) { FaultyWorker.name($0) == "capture 1" }
        let second = FaultyWorker(index: 1) { FaultyWorker.name($0) == "replay 0" }
        let report = try await Self.run([first, second, FaultyWorker(index: 2)], recipe: Self.recipe("gptq"))
        #expect(first.isDead && second.isDead)
        #expect(report.shards.map(\.sha256) == expected)
        #expect(report.losses.map(\.worker) == ["in-process #0", "in-process #1"])
        #expect(report.processes.filter { $0.role == "worker" }.map(\.samples) == [6], "\(report.processes.map { ($0.role, $0.samples) })")
    }

    @Test("below --min-workers the job stops, naming the lost workers and the minimum")
    func belowMinimum() async throws {
        let victim = FaultyWorker(index: 1) { FaultyWorker.name($0) == "capture 1" }
        do {
            _ = try await Self.run([FaultyWorker(index: 0), victim, FaultyWorker(index: 2)], recipe: Self.recipe("gptq"), minWorkers: 3)
            Issue.record("the job went on with 2 workers and --min-workers 3")
        } catch {
            let text = "\(error)"
            #expect(text.contains("in-process #1") && text.contains("--min-workers 3") && text.contains("layer 1"), "\(text)")
        }
    }
}
