import JobProtocol
import Tensors
import Wire

/// A `WorkerHandler` that computes nothing of calibration but exercises the whole path: it
/// answers every job request with a well-formed reply derived from what it received, so that
/// tests, `coordinator ping` and benchmarks can run against real worker processes.
///
/// - start → started with the job's token count; loadLayer → loaded; capture → no statistics;
///   fold → folded; evaluateScales → zero losses; solve → no pieces; apply → applied;
///   finish → a summary of zeros.
/// - Evaluate "sum" → Evaluated [sum of every float element]; "echo" → the tensors back;
///   "fail" → a thrown `WireError` (`.invalidArgument`, naming the layer); "sleep" → waits
///   `parameters[0]` seconds (a slow request, without blocking a thread). Other kinds are refused as invalid.
public struct DiagnosticHandler: WorkerHandler {
    public init() {}

    public func handle(_ request: Message) async throws -> HandlerReply {
        switch request.body {
        case .request(let job):
            return HandlerReply(.reply(Self.reply(to: job)))
        case .evaluate(let evaluate):
            return try await self.evaluate(evaluate, request)
        default:
            throw WireError(.unexpected, "\(request.type) is not a job request")
        }
    }

    /// The well-formed reply that computes nothing.
    static func reply(to request: WorkerRequest) -> WorkerReply {
        switch request {
        case .start(let job, _): .started(tokens: job.sequences.reduce(0) { $0 + $1.count })
        case .loadLayer(let index, _): .loaded(layer: index)
        case .capture(let layer, _): .statistics(layer: layer, [])
        case .fold(let layer, _): .folded(layer: layer)
        case .evaluateScales(let search): .losses(ScaleLosses(sums: Array(repeating: 0, count: search.candidates.count), elements: 0))
        case .solve(let task): .solved(layer: task.layer, [], factor: nil)
        case .apply(let layer, let stage, _): .applied(layer: layer, stage: stage)
        case .finish: .finished(WorkerSummary(peakResidentBytes: 0, forwardSeconds: 0, statisticsSeconds: 0, solveSeconds: 0))
        case .rewind(let layer): .rewound(layer: layer)
        case .adopt(let samples): .adopted(tokens: samples.sequences.reduce(0) { $0 + $1.count })
        case .replay(let replay): .replayed(layer: replay.layer)
        case .mergeAdopted: .merged(tokens: 0)
        case .release(_, let states): .released(tokens: 0, states: states ? Tensor(floats: [], shape: [0, 1]) : nil)
        }
    }

    private func evaluate(_ evaluate: Evaluate, _ request: Message) async throws -> HandlerReply {
        switch evaluate.kind {
        case "sum":
            return HandlerReply(.evaluated(Evaluated(kind: "sum", values: [Self.sum(request.tensors)])))
        case "echo":
            return HandlerReply(.evaluated(Evaluated(kind: "echo")), tensors: request.tensors)
        case "fail":
            throw WireError(.invalidArgument, "asked to fail at layer \(evaluate.layer.map(String.init) ?? "none")")
        case "sleep":
            let seconds = evaluate.parameters.first ?? 0
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            return HandlerReply(.evaluated(Evaluated(kind: "sleep", values: [seconds])))
        default:
            throw WireError(.invalidArgument, "unknown evaluation \"\(evaluate.kind)\"; this handler knows sum, echo, fail, sleep")
        }
    }

    public func sessionEnded(reason: String) async {}

    /// The sum of every element of the floating-point tensors, in Double.
    static func sum(_ tensors: [NamedTensor]) -> Double {
        var total = 0.0
        for named in tensors where named.tensor.dtype.isFloatingPoint {
            for value in named.tensor.floats() { total += Double(value) }
        }
        return total
    }
}

