import Foundation
import JobProtocol
import Kernels
import Model
import RemoteWorkers
import Synchronization
import Testing
import Wire
import WorkerService

/// The hidden `--fault ACTION:PHASE:LAYER` of both executables (docs/ARCHITECTURE.md, "Fault
/// injection"): the grammar, which requests a spec matches, and that each side fires once, before
/// the request. `ProcessFaultMatrixTests` (ClusterTests) uses it on real processes.
@Suite("fault injection")
struct FaultInjectionTests {
    /// One request of each kind, in `WorkerRequest.Kind`'s order; those with a layer name layer 1.
    static let requests: [WorkerRequest] = {
        let scheme = try! QuantizationScheme(bits: 4, symmetric: true, groupSize: 32)
        let job = WorkerJob(jobID: "j", modelPath: nil, configJSON: [], sequences: [[1, 2]], firstSample: 0, threads: 1)
        return [
            .start(job, embeddings: nil),
            .loadLayer(index: 1, weights: nil),
            .capture(layer: 1, stages: [.qkv]),
            .fold(layer: 1, LayerFold(attentionInput: [1])),
            .evaluateScales(ScaleSearch(layer: 1, group: .attentionInput, candidates: [[1]], scheme: scheme)),
            .solve(SolveTask(layer: 1, stage: .o, method: .rtn, options: GPTQSolveOptions(scheme: scheme), factor: nil, hessian: nil, pieces: [])),
            .apply(layer: 1, stage: .down, weights: []),
            .finish,
            .rewind(layer: 1),
            .adopt(AdoptedSamples(blocks: [0..<1], sequences: [[1, 2]])),
            .replay(LayerReplay(layer: 1, weights: nil, steps: [])),
            .mergeAdopted,
            .release(blocks: [0..<1], states: true),
        ]
    }()

    @Test("each request's kind and layer: the phase names of the grammar")
    func kinds() {
        #expect(Self.requests.map(\.kind) == WorkerRequest.Kind.allCases)
        #expect(WorkerRequest.Kind.allCases.map(\.rawValue) == ["start", "load", "capture", "fold", "search", "solve", "apply", "finish", "rewind", "adopt", "replay", "merge", "release"])
        #expect(Self.requests.map(\.layer) == [nil, 1, 1, 1, 1, 1, 1, nil, 1, nil, 1, nil, nil])
        #expect(Self.requests.map { $0.kind.hasLayer } == Self.requests.map { $0.layer != nil })
    }

    @Test("every phase parses with any layer, those with a layer with a number too, and prints back as written")
    func parses() throws {
        for kind in WorkerRequest.Kind.allCases {
            for action in FaultSpec.Action.allCases {
                let any = try FaultSpec(parsing: "\(action.rawValue):\(kind.rawValue):*")
                #expect(any == FaultSpec(action: action, phase: kind, layer: nil) && any.description == "\(action.rawValue):\(kind.rawValue):*")
            }
            if kind.hasLayer {
                let numbered = try FaultSpec(parsing: "kill:\(kind.rawValue):12")
                #expect(numbered == FaultSpec(action: .kill, phase: kind, layer: 12) && numbered.description == "kill:\(kind.rawValue):12")
            }
        }
    }

    @Test("a bad spec is refused with a message naming the option, the text and the bad part", arguments: [
        ("", "expected ACTION:PHASE:LAYER"),
        ("kill", "expected ACTION:PHASE:LAYER"),
        ("kill:capture", "expected ACTION:PHASE:LAYER"),
        ("kill:capture:1:2", "expected ACTION:PHASE:LAYER"),
        ("maim:capture:1", "unknown action 'maim' (expected kill, stop or exit)"),
        ("KILL:capture:1", "unknown action 'KILL'"),
        ("kill:loadLayer:1", "unknown phase 'loadLayer' (expected start, load, capture, fold, search, solve, apply, finish, rewind, adopt, replay, merge or release)"),
        ("kill::1", "unknown phase ''"),
        ("kill:capture:x", "layer 'x' is neither a layer number"),
        ("kill:capture:-1", "layer '-1' is neither a layer number"),
        ("kill:capture:", "layer '' is neither a layer number"),
        ("kill:start:0", "phase start has no layer: give '*', found '0'"),
        ("stop:finish:2", "phase finish has no layer"),
        ("exit:merge:1", "phase merge has no layer"),
    ])
    func refused(text: String, reason: String) {
        let error = #expect(throws: FaultSpecError.self) { try FaultSpec(parsing: text) }
        #expect(error?.description.hasPrefix("--fault \(text): ") == true && error?.description.contains(reason) == true, "\(String(describing: error))")
    }

    @Test("the coordinator takes only kill")
    func coordinatorActions() throws {
        #expect(try CoordinatorFault(parsing: "kill:solve:1").spec == FaultSpec(action: .kill, phase: .solve, layer: 1))
        for action in ["stop", "exit"] {
            do {
                _ = try CoordinatorFault(parsing: "\(action):solve:1")
                Issue.record("\(action) accepted")
            } catch {
                #expect(error.description == "--fault \(action):solve:1: action '\(action)' is not available here (expected kill)")
            }
        }
    }

    @Test("a spec matches the requests of its phase, on its layer or any")
    func matches() {
        for kind in WorkerRequest.Kind.allCases {
            for layer in kind.hasLayer ? [nil, 1, 0] : [nil] {
                let spec = FaultSpec(action: .kill, phase: kind, layer: layer)
                let matched = Self.requests.filter(spec.matches).map(\.kind)
                #expect(matched == (layer == 0 ? [] : [kind]), "\(spec)")
            }
        }
    }

    @Test("the worker's fault fires once, at the first matching request, from the job handler")
    func workerFiresOnce() async throws {
        let fired = Mutex<[String]>([])
        let fault = FaultInjection(try FaultSpec(parsing: "stop:capture:1")) { spec, request in
            fired.withLock { $0.append("\(spec) before \(request.kind) \(request.layer ?? -1)") }
        }
        for request: WorkerRequest in [.capture(layer: 0, stages: [.qkv]), .loadLayer(index: 1, weights: nil), .capture(layer: 1, stages: [.o]),
                                       .capture(layer: 1, stages: [.qkv])] {
            fault.before(request)
        }
        #expect(fired.withLock { $0 } == ["stop:capture:1 before capture 1"])

        // Through CalibrationHandler, as `worker --fault` wires it (a finish before any job: the
        // worker's own answer does not matter here).
        let handler = CalibrationHandler(fault: FaultInjection(try FaultSpec(parsing: "exit:finish:*")) { spec, _ in
            fired.withLock { $0.append("\(spec)") }
        })
        _ = try? await handler.handle(Message(.request(.finish), jobID: "j", taskID: 1))
        _ = try? await handler.handle(Message(.request(.finish), jobID: "j", taskID: 2))
        #expect(fired.withLock { $0 } == ["stop:capture:1 before capture 1", "exit:finish:*"])
    }

    @Test("the coordinator's fault fires once over all connections, before the matching request is sent")
    func coordinatorFiresOnce() async throws {
        let inners = [CountingConnection(address: "w0"), CountingConnection(address: "w1")]
        let fired = Mutex<[String]>([])
        let fault = CoordinatorFault(try CoordinatorFault(parsing: "kill:load:1").spec) { spec, request, address in
            let sent = inners.first { $0.address == address }!.count
            fired.withLock { $0.append("\(spec) \(request.kind) \(request.layer ?? -1) to \(address) after \(sent)") }
        }
        let workers = JobWorkers(connections: inners, shutdown: {}).injecting(fault)
        #expect(workers.connections.map(\.address) == ["w0", "w1"] && workers.connections.map(\.capacity) == [1, 1])
        for (worker, layer) in [(0, 0), (1, 0), (1, 1), (0, 1), (1, 1)] {
            #expect(try await workers.connections[worker].send(.loadLayer(index: layer, weights: nil)) == .loaded(layer: layer))
        }
        #expect(fired.withLock { $0 } == ["kill:load:1 load 1 to w1 after 1"])
        #expect(inners.map(\.count) == [2, 3], "every request still reaches its worker")
        #expect(JobWorkers(connections: inners, shutdown: {}).injecting(nil).connections.allSatisfy { $0 is CountingConnection })
    }
}

/// Answers loads and counts the requests it got.
final class CountingConnection: WorkerConnection {
    let address: String
    let capacity = 1
    private let received = Mutex(0)

    init(address: String) { self.address = address }

    var count: Int { received.withLock { $0 } }

    func send(_ request: WorkerRequest) async throws -> WorkerReply {
        received.withLock { $0 += 1 }
        guard case .loadLayer(let index, _) = request else { throw WorkerLost(address: address, reason: "only loads here") }
        return .loaded(layer: index)
    }

    func traffic() async -> WorkerTraffic { WorkerTraffic() }
}
