import CWire
import JobProtocol
import Kernels
import Model
import Tensors

/// Job replies (`WorkerReply`, worker → coordinator) to and from their protocol messages; the
/// rules are those of `WireCodec+JobRequests.swift`.
extension WireCodec {
    // MARK: Frames

    /// The frames of `reply`, in the order they travel.
    static func frames(of reply: WorkerReply) -> [NamedTensor] {
        switch reply {
        case .started, .loaded, .folded, .applied, .finished, .rewound, .adopted, .replayed, .merged:
            return []
        case .released(_, let states):
            return states.map { [NamedTensor("states", $0)] } ?? []
        case .losses(let losses):
            let sums = losses.sums.flatMap { [Int64(truncatingIfNeeded: $0), Int64(truncatingIfNeeded: $0 >> 64)] }
            return [NamedTensor("sums", Tensor.integers(sums, dtype: .i64, shape: [losses.sums.count, 2]))]
        case .statistics(_, let parts):
            return parts.enumerated().flatMap { position, part in prefixed("\(position).", part.tensors()) }
        case .solved(_, let pieces, _):
            return pieces.enumerated().flatMap { position, piece in prefixed("\(position).", piece.result.tensors()) }
        }
    }

    // MARK: Encoding

    static func setBody(_ reply: WorkerReply, of envelope: inout Calibrate__Wire__Envelope, arena: CArena) {
        switch reply {
        case .started(let tokens):
            var m = Calibrate__Wire__JobAccepted()
            calibrate__wire__job_accepted__init(&m)
            (m.has_token_count, m.token_count) = (1, UInt64(tokens))
            envelope.job_accepted = arena.object(m)
        case .loaded(let layer):
            var m = Calibrate__Wire__LayerLoaded()
            calibrate__wire__layer_loaded__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(layer))
            envelope.layer_loaded = arena.object(m)
        case .folded(let layer):
            var m = Calibrate__Wire__Folded()
            calibrate__wire__folded__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(layer))
            envelope.folded = arena.object(m)
        case .losses(let losses):
            var m = Calibrate__Wire__ScaleLosses()
            calibrate__wire__scale_losses__init(&m)
            setFields(losses, of: &m, arena: arena)
            envelope.scale_losses = arena.object(m)
        case .statistics(let layer, let parts):
            var m = Calibrate__Wire__StatsReport()
            calibrate__wire__stats_report__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(layer))
            (m.has_stage_count, m.stage_count) = (1, UInt32(parts.count))
            envelope.stats_report = arena.object(m)
        case .solved(let layer, let pieces, let factor):
            var m = Calibrate__Wire__SolveResult()
            calibrate__wire__solve_result__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(layer))
            if let factor {
                var f = Calibrate__Wire__FactorReport()
                calibrate__wire__factor_report__init(&f)
                (f.has_damp_percent, f.damp_percent) = (1, factor.dampingPercent)
                (f.has_damp_retries, f.damp_retries) = (1, UInt32(factor.dampingRetries))
                (f.has_seconds, f.seconds) = (1, factor.seconds)
                m.factor = arena.object(f)
            }
            let encoded = pieces.map { Optional(arena.object(encodePiece(linear: $0.linear, rows: $0.result.rows, clip: false, seconds: $0.seconds))) }
            (m.n_pieces, m.pieces) = (encoded.count, arena.array(encoded))
            envelope.solve_result = arena.object(m)
        case .applied(let layer, let stage):
            var m = Calibrate__Wire__Applied()
            calibrate__wire__applied__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(layer))
            (m.has_stage, m.stage) = (1, wire(stage))
            envelope.applied = arena.object(m)
        case .finished(let summary):
            var m = Calibrate__Wire__JobSummary()
            calibrate__wire__job_summary__init(&m)
            setFields(summary, of: &m, arena: arena)
            envelope.job_summary = arena.object(m)
        case .rewound, .adopted, .replayed, .merged, .released:
            setRecoveryBody(reply, of: &envelope, arena: arena)
        }
    }

    // MARK: Decoding

    /// The reply in `envelope` (of job reply type `type`), with its frames.
    static func decodeReply(of envelope: Calibrate__Wire__Envelope, type: MessageType, frames: [NamedTensor]) throws(WireError) -> WorkerReply {
        let tensors = Dictionary(frames.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        switch type {
        case .jobAccepted:
            let m = envelope.job_accepted.pointee
            let tokens = try required(m.has_token_count, m.token_count, "JobAccepted.token_count")
            guard tokens <= UInt64(Int.max) else { throw WireError(.malformed, "JobAccepted.token_count is \(tokens)") }
            return .started(tokens: Int(tokens))
        case .layerLoaded:
            let m = envelope.layer_loaded.pointee
            return .loaded(layer: Int(try required(m.has_layer, m.layer, "LayerLoaded.layer")))
        case .folded:
            let m = envelope.folded.pointee
            return .folded(layer: Int(try required(m.has_layer, m.layer, "Folded.layer")))
        case .scaleLosses:
            let m = envelope.scale_losses.pointee
            guard let sums = tensors["sums"], sums.dtype == .i64, sums.shape.count == 2, sums.shape[1] == 2 else {
                throw WireError(.invalidArgument, "ScaleLosses: sums must be I64 [n, 2]")
            }
            let words = sums.integers(as: Int64.self)
            let values = (0..<sums.shape[0]).map { Int128(words[2 * $0 + 1]) << 64 | Int128(UInt64(bitPattern: words[2 * $0])) }
            var losses = ScaleLosses(sums: values, elements: 0)
            try fields(of: m, into: &losses)
            return .losses(losses)
        case .statsReport:
            let m = envelope.stats_report.pointee
            let layer = Int(try required(m.has_layer, m.layer, "StatsReport.layer"))
            let count = Int(try required(m.has_stage_count, m.stage_count, "StatsReport.stage_count"))
            guard count <= LayerStage.allCases.count else { throw WireError(.malformed, "StatsReport.stage_count is \(count); a layer has \(LayerStage.allCases.count) stages") }
            let parts = try converting {
                try (0..<count).map { position in
                    guard let part = group(tensors, "\(position).") else { throw WireError(.invalidArgument, "StatsReport: no tensors for stage position \(position)") }
                    return try ActivationStatistics(tensors: part, name: "layer \(layer) stage position \(position)")
                }
            }
            return .statistics(layer: layer, parts)
        case .solveResult:
            let m = envelope.solve_result.pointee
            let layer = Int(try required(m.has_layer, m.layer, "SolveResult.layer"))
            let headers = try decodePieces(m.pieces, m.n_pieces, "SolveResult")
            let pieces = try converting {
                try headers.enumerated().map { position, header in
                    guard let part = group(tensors, "\(position).") else { throw WireError(.invalidArgument, "SolveResult: no tensors for piece \(position)") }
                    let solved = try GPTQSolveResult(tensors: part, name: "layer \(layer) piece \(position)")
                    guard solved.rows == header.rows else {
                        throw WireError(.invalidArgument, "SolveResult: piece \(position) holds rows \(solved.rows), its header says \(header.rows)")
                    }
                    return SolvedPiece(linear: header.linear, result: solved, seconds: header.seconds)
                }
            }
            let factor = try m.factor.map { pointer throws(WireError) -> FactorReport in
                let f = pointer.pointee
                let percent = try required(f.has_damp_percent, f.damp_percent, "SolveResult.factor.damp_percent")
                guard percent.isFinite, percent >= 0 else { throw WireError(.malformed, "SolveResult.factor.damp_percent is \(percent)") }
                let seconds = f.has_seconds != 0 && f.seconds.isFinite && f.seconds >= 0 ? f.seconds : 0
                return FactorReport(dampingPercent: percent, dampingRetries: Int(f.has_damp_retries != 0 ? f.damp_retries : 0), seconds: seconds)
            }
            return .solved(layer: layer, pieces, factor: factor)
        case .applied:
            let m = envelope.applied.pointee
            return .applied(layer: Int(try required(m.has_layer, m.layer, "Applied.layer")), stage: try stage(m.has_stage, m.stage, "Applied.stage"))
        case .jobSummary:
            var summary = WorkerSummary(peakResidentBytes: 0, forwardSeconds: 0, statisticsSeconds: 0, solveSeconds: 0)
            try fields(of: envelope.job_summary.pointee, into: &summary)
            return .finished(summary)
        case .rewound, .adopted, .layerReplayed, .merged, .released:
            return try decodeRecoveryReply(of: envelope, type: type, tensors: tensors)
        default:
            throw WireError(.unknownType, "\(type) is not a job reply")
        }
    }
}
