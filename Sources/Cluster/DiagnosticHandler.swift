import Tensors
import Wire

/// A `WorkerHandler` that computes nothing of calibration but exercises the whole path: it
/// answers every job request with a well-formed reply derived from what it received, so that
/// tests, `coordinator ping` and benchmarks can run against real worker processes.
///
/// - JobSpec → JobAccepted with the "tokens" tensor's row count (0 without one).
/// - LoadLayer → LayerLoaded with the layer and the bytes of its tensors.
/// - CaptureStats → StatsReport with token count 0 and the request's tensors returned.
/// - SolveRequest → SolveResult whose loss is the sum of every float element received.
/// - ApplyLayer → Applied.
/// - Evaluate "sum" → Evaluated [sum of every float element]; "echo" → the tensors back;
///   "fail" → a thrown `WireError` (`.invalidArgument`, naming the layer); "sleep" → waits
///   `parameters[0]` seconds (a slow request, without blocking a thread). Other kinds are refused as invalid.
public struct DiagnosticHandler: WorkerHandler {
    public init() {}

    public func handle(_ request: Message) async throws -> WorkerReply {
        switch request.body {
        case .jobSpec:
            return WorkerReply(.jobAccepted(JobAccepted(sampleCount: request.tensor(named: "tokens")?.shape.first ?? 0)))
        case .loadLayer(let load):
            let bytes = request.tensors.reduce(0) { $0 + $1.tensor.byteCount }
            return WorkerReply(.layerLoaded(LayerLoaded(layer: load.layer, bytes: UInt64(bytes))))
        case .captureStats(let capture):
            return WorkerReply(.statsReport(StatsReport(layer: capture.layer, stage: capture.stage, tokenCount: 0)), tensors: request.tensors)
        case .solveRequest(let solve):
            return WorkerReply(.solveResult(SolveResult(layer: solve.layer, module: solve.module, rowBegin: solve.rowBegin, rowEnd: solve.rowEnd, loss: Self.sum(request.tensors))))
        case .applyLayer(let apply):
            return WorkerReply(.applied(Applied(layer: apply.layer, stage: apply.stage)))
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

