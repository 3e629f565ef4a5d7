import Tensors
import Wire

/// A `WorkerHandler` that computes nothing of calibration but exercises the whole path: it
/// answers every job request with a well-formed reply derived from what it received, so that
/// tests, `coordinator ping` and benchmarks can run against real worker processes.
///
/// - JobSpec → JobAccepted with the "tokens" tensor's element count (0 without one).
/// - LoadLayer → LayerLoaded; CaptureStats → StatsReport with the request's tensors returned.
/// - SolveRequest → SolveResult with the request's pieces; ApplyLayer → Applied; Fold → Folded;
///   ScaleSearch → ScaleLosses with no elements; FinishJob → JobSummary of zeros.
/// - Evaluate "sum" → Evaluated [sum of every float element]; "echo" → the tensors back;
///   "fail" → a thrown `WireError` (`.invalidArgument`, naming the layer); "sleep" → waits
///   `parameters[0]` seconds (a slow request, without blocking a thread). Other kinds are refused as invalid.
public struct DiagnosticHandler: WorkerHandler {
    public init() {}

    public func handle(_ request: Message) async throws -> WorkerReply {
        switch request.body {
        case .jobSpec:
            return WorkerReply(.jobAccepted(JobAccepted(tokenCount: request.tensor(named: "tokens")?.elementCount ?? 0)))
        case .loadLayer(let load):
            return WorkerReply(.layerLoaded(LayerLoaded(layer: load.layer)))
        case .captureStats(let capture):
            return WorkerReply(.statsReport(StatsReport(layer: capture.layer, stageCount: capture.stages.count)), tensors: request.tensors)
        case .solveRequest(let solve):
            return WorkerReply(.solveResult(SolveResult(layer: solve.layer, pieces: solve.pieces)))
        case .applyLayer(let apply):
            return WorkerReply(.applied(Applied(layer: apply.layer, stage: apply.stage)))
        case .fold(let fold):
            return WorkerReply(.folded(Folded(layer: fold.layer)))
        case .scaleSearch:
            return WorkerReply(.scaleLosses(ScaleLossesReport(elements: 0)))
        case .finishJob:
            return WorkerReply(.jobSummary(JobSummary(peakResidentBytes: 0, forwardSeconds: 0, statisticsSeconds: 0, solveSeconds: 0)))
        case .evaluate(let evaluate):
            return try await self.evaluate(evaluate, request)
        default:
            throw WireError(.unexpected, "\(request.type) is not a job request")
        }
    }

    private func evaluate(_ evaluate: Evaluate, _ request: Message) async throws -> WorkerReply {
        switch evaluate.kind {
        case "sum":
            return WorkerReply(.evaluated(Evaluated(kind: "sum", values: [Self.sum(request.tensors)])))
        case "echo":
            return WorkerReply(.evaluated(Evaluated(kind: "echo")), tensors: request.tensors)
        case "fail":
            throw WireError(.invalidArgument, "asked to fail at layer \(evaluate.layer.map(String.init) ?? "none")")
        case "sleep":
            let seconds = evaluate.parameters.first ?? 0
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            return WorkerReply(.evaluated(Evaluated(kind: "sleep", values: [seconds])))
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

