import CWire

/// Job message bodies to and from protobuf-c structs (see `WireCodec+Bodies.swift` for the rules:
/// structs made here point into the encode's `CArena`; structs read here belong to an envelope
/// that `decode` frees before returning).
extension WireCodec {
    // MARK: Encoding

    static func setJobBody(_ body: Body, of envelope: inout Calibrate__Wire__Envelope, arena: CArena) {
        switch body {
        case .jobSpec(let spec):
            var m = Calibrate__Wire__JobSpec()
            calibrate__wire__job_spec__init(&m)
            if let path = spec.modelPath { m.model_path = arena.string(path) }
            (m.has_first_sample, m.first_sample) = (1, UInt32(spec.firstSample))
            (m.has_threads, m.threads) = (1, UInt32(spec.threads))
            (m.has_true_sequential, m.true_sequential) = (1, spec.trueSequential ? 1 : 0)
            (m.has_statistics_block, m.statistics_block) = (1, UInt32(spec.statisticsBlock))
            envelope.job_spec = arena.object(m)
        case .jobAccepted(let accepted):
            var m = Calibrate__Wire__JobAccepted()
            calibrate__wire__job_accepted__init(&m)
            (m.has_token_count, m.token_count) = (1, UInt64(accepted.tokenCount))
            envelope.job_accepted = arena.object(m)
        case .loadLayer(let load):
            var m = Calibrate__Wire__LoadLayer()
            calibrate__wire__load_layer__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(load.layer))
            envelope.load_layer = arena.object(m)
        case .layerLoaded(let loaded):
            var m = Calibrate__Wire__LayerLoaded()
            calibrate__wire__layer_loaded__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(loaded.layer))
            envelope.layer_loaded = arena.object(m)
        case .captureStats(let capture):
            var m = Calibrate__Wire__CaptureStats()
            calibrate__wire__capture_stats__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(capture.layer))
            (m.n_stages, m.stages) = (capture.stages.count, arena.array(capture.stages.map(wire)))
            envelope.capture_stats = arena.object(m)
        case .statsReport(let report):
            var m = Calibrate__Wire__StatsReport()
            calibrate__wire__stats_report__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(report.layer))
            (m.has_stage_count, m.stage_count) = (1, UInt32(report.stageCount))
            envelope.stats_report = arena.object(m)
        case .fold(let fold):
            var m = Calibrate__Wire__Fold()
            calibrate__wire__fold__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(fold.layer))
            envelope.fold = arena.object(m)
        case .folded(let folded):
            var m = Calibrate__Wire__Folded()
            calibrate__wire__folded__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(folded.layer))
            envelope.folded = arena.object(m)
        case .scaleSearch(let search):
            var m = Calibrate__Wire__ScaleSearch()
            calibrate__wire__scale_search__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(search.layer))
            (m.has_group, m.group) = (1, Calibrate__Wire__ScaleGroup(rawValue: search.group.rawValue))
            m.scheme = arena.object(encode(search.scheme, arena))
            (m.n_rows, m.rows) = (search.rows.count, arena.array(search.rows.map { range in
                var r = Calibrate__Wire__RowRange()
                calibrate__wire__row_range__init(&r)
                (r.has_begin, r.begin, r.has_end, r.end) = (1, UInt32(range.lowerBound), 1, UInt32(range.upperBound))
                return Optional(arena.object(r))
            }))
            envelope.scale_search = arena.object(m)
        case .scaleLosses(let losses):
            var m = Calibrate__Wire__ScaleLosses()
            calibrate__wire__scale_losses__init(&m)
            (m.has_elements, m.elements) = (1, UInt64(losses.elements))
            envelope.scale_losses = arena.object(m)
        case .solveRequest(let request):
            var o = Calibrate__Wire__SolveOptions()
            calibrate__wire__solve_options__init(&o)
            o.scheme = arena.object(encode(request.options.scheme, arena))
            (o.has_static_groups, o.static_groups) = (1, request.options.staticGroups ? 1 : 0)
            (o.has_block_size, o.block_size) = (1, UInt32(request.options.blockSize))
            (o.has_row_tile, o.row_tile) = (1, UInt32(request.options.rowTile))
            if let grid = request.options.clipGrid { (o.has_clip_grid, o.clip_grid) = (1, UInt32(grid)) }
            if let shrink = request.options.clipMaxShrink { (o.has_clip_max_shrink, o.clip_max_shrink) = (1, shrink) }
            var m = Calibrate__Wire__SolveRequest()
            calibrate__wire__solve_request__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(request.layer))
            (m.has_stage, m.stage) = (1, wire(request.stage))
            (m.has_method, m.method) = (1, Calibrate__Wire__SolveMethod(rawValue: request.method.rawValue))
            m.options = arena.object(o)
            (m.n_pieces, m.pieces) = (request.pieces.count, arena.array(request.pieces.map { Optional(arena.object(encode($0))) }))
            envelope.solve_request = arena.object(m)
        case .solveResult(let result):
            var m = Calibrate__Wire__SolveResult()
            calibrate__wire__solve_result__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(result.layer))
            (m.n_pieces, m.pieces) = (result.pieces.count, arena.array(result.pieces.map { Optional(arena.object(encode($0))) }))
            envelope.solve_result = arena.object(m)
        case .applyLayer(let apply):
            var m = Calibrate__Wire__ApplyLayer()
            calibrate__wire__apply_layer__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(apply.layer))
            (m.has_stage, m.stage) = (1, wire(apply.stage))
            envelope.apply_layer = arena.object(m)
        case .applied(let applied):
            var m = Calibrate__Wire__Applied()
            calibrate__wire__applied__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(applied.layer))
            (m.has_stage, m.stage) = (1, wire(applied.stage))
            envelope.applied = arena.object(m)
        case .finishJob:
            var m = Calibrate__Wire__FinishJob()
            calibrate__wire__finish_job__init(&m)
            envelope.finish_job = arena.object(m)
        case .jobSummary(let summary):
            var m = Calibrate__Wire__JobSummary()
            calibrate__wire__job_summary__init(&m)
            (m.has_peak_resident_bytes, m.peak_resident_bytes) = (1, summary.peakResidentBytes)
            (m.has_forward_seconds, m.forward_seconds) = (1, summary.forwardSeconds)
            (m.has_statistics_seconds, m.statistics_seconds) = (1, summary.statisticsSeconds)
            (m.has_solve_seconds, m.solve_seconds) = (1, summary.solveSeconds)
            envelope.job_summary = arena.object(m)
        default:
            preconditionFailure("setJobBody: \(body.type) is not a job message")
        }
    }

    private static func encode(_ scheme: QuantScheme, _ arena: CArena) -> Calibrate__Wire__QuantScheme {
        var m = Calibrate__Wire__QuantScheme()
        calibrate__wire__quant_scheme__init(&m)
        (m.has_bits, m.bits) = (1, UInt32(scheme.bits))
        (m.has_symmetric, m.symmetric) = (1, scheme.symmetric ? 1 : 0)
        (m.has_group_size, m.group_size) = (1, Int32(scheme.groupSize))
        m.scale_format = arena.string(scheme.scaleFormat)
        return m
    }

    private static func encode(_ piece: SolvePieceSpec) -> Calibrate__Wire__SolvePiece {
        var m = Calibrate__Wire__SolvePiece()
        calibrate__wire__solve_piece__init(&m)
        (m.has_linear, m.linear) = (1, UInt32(piece.linear))
        (m.has_row_begin, m.row_begin) = (1, UInt32(piece.rowBegin))
        (m.has_row_end, m.row_end) = (1, UInt32(piece.rowEnd))
        (m.has_clip, m.clip) = (1, piece.clip ? 1 : 0)
        return m
    }

    // MARK: Decoding

    static func decodeJobBody(of envelope: Calibrate__Wire__Envelope, type: MessageType) throws(WireError) -> Body {
        switch type {
        case .jobSpec:
            let m = envelope.job_spec.pointee
            let block = Int(try required(m.has_statistics_block, m.statistics_block, "JobSpec.statistics_block"))
            guard block >= 1 else { throw WireError(.malformed, "JobSpec.statistics_block is 0; expected at least 1") }
            return .jobSpec(JobSpec(
                modelPath: m.model_path.map { String(cString: $0) }, firstSample: Int(try required(m.has_first_sample, m.first_sample, "JobSpec.first_sample")),
                threads: Int(m.has_threads != 0 ? m.threads : 0), trueSequential: try required(m.has_true_sequential, m.true_sequential, "JobSpec.true_sequential") != 0,
                statisticsBlock: block))
        case .jobAccepted:
            let m = envelope.job_accepted.pointee
            return .jobAccepted(JobAccepted(tokenCount: Int(try required(m.has_token_count, m.token_count, "JobAccepted.token_count"))))
        case .loadLayer:
            let m = envelope.load_layer.pointee
            return .loadLayer(LoadLayer(layer: Int(try required(m.has_layer, m.layer, "LoadLayer.layer"))))
        case .layerLoaded:
            let m = envelope.layer_loaded.pointee
            return .layerLoaded(LayerLoaded(layer: Int(try required(m.has_layer, m.layer, "LayerLoaded.layer"))))
        case .captureStats:
            let m = envelope.capture_stats.pointee
            var stages: [Stage] = []
            for raw in UnsafeBufferPointer(start: m.stages, count: m.n_stages) {
                stages.append(try requiredStage(1, raw, "CaptureStats.stages"))
            }
            guard !stages.isEmpty, Set(stages).count == stages.count else {
                throw WireError(.malformed, "CaptureStats.stages must name at least one stage, each once")
            }
            return .captureStats(CaptureStats(layer: Int(try required(m.has_layer, m.layer, "CaptureStats.layer")), stages: stages))
        case .statsReport:
            let m = envelope.stats_report.pointee
            return .statsReport(StatsReport(layer: Int(try required(m.has_layer, m.layer, "StatsReport.layer")),
                                            stageCount: Int(try required(m.has_stage_count, m.stage_count, "StatsReport.stage_count"))))
        case .fold:
            let m = envelope.fold.pointee
            return .fold(Fold(layer: Int(try required(m.has_layer, m.layer, "Fold.layer"))))
        case .folded:
            let m = envelope.folded.pointee
            return .folded(Folded(layer: Int(try required(m.has_layer, m.layer, "Folded.layer"))))
        case .scaleSearch:
            let m = envelope.scale_search.pointee
            let raw = try required(m.has_group, m.group.rawValue, "ScaleSearch.group")
            guard let group = ScaleGroup(rawValue: raw) else { throw WireError(.malformed, "ScaleSearch.group is \(raw); expected 1–4") }
            guard let scheme = m.scheme?.pointee else { throw WireError(.malformed, "ScaleSearch.scheme is missing") }
            var rows: [Range<Int>] = []
            for pointer in UnsafeBufferPointer(start: m.rows, count: m.n_rows) {
                guard let r = pointer?.pointee else { throw WireError(.malformed, "ScaleSearch.rows holds a null range") }
                let (begin, end) = (Int(try required(r.has_begin, r.begin, "ScaleSearch.rows.begin")), Int(try required(r.has_end, r.end, "ScaleSearch.rows.end")))
                guard begin < end else { throw WireError(.malformed, "ScaleSearch.rows: \(begin)..<\(end); expected begin < end") }
                rows.append(begin..<end)
            }
            return .scaleSearch(ScaleSearchRequest(layer: Int(try required(m.has_layer, m.layer, "ScaleSearch.layer")), group: group,
                                                   scheme: try decode(scheme, "ScaleSearch.scheme"), rows: rows))
        case .scaleLosses:
            let m = envelope.scale_losses.pointee
            return .scaleLosses(ScaleLossesReport(elements: Int(try required(m.has_elements, m.elements, "ScaleLosses.elements"))))
        case .solveRequest:
            let m = envelope.solve_request.pointee
            guard let o = m.options?.pointee, let scheme = o.scheme?.pointee else { throw WireError(.malformed, "SolveRequest.options.scheme is missing") }
            let raw = try required(m.has_method, m.method.rawValue, "SolveRequest.method")
            guard let method = SolveMethod(rawValue: raw) else { throw WireError(.malformed, "SolveRequest.method is \(raw); expected 1 (GPTQ) or 2 (RTN)") }
            let options = SolveOptionsSpec(
                scheme: try decode(scheme, "SolveRequest.options.scheme"), staticGroups: o.has_static_groups != 0 && o.static_groups != 0,
                blockSize: Int(try required(o.has_block_size, o.block_size, "SolveOptions.block_size")),
                rowTile: Int(try required(o.has_row_tile, o.row_tile, "SolveOptions.row_tile")),
                clipGrid: o.has_clip_grid != 0 ? Int(o.clip_grid) : nil, clipMaxShrink: o.has_clip_max_shrink != 0 ? o.clip_max_shrink : nil)
            return .solveRequest(SolveRequest(
                layer: Int(try required(m.has_layer, m.layer, "SolveRequest.layer")), stage: try requiredStage(m.has_stage, m.stage, "SolveRequest.stage"),
                method: method, options: options, pieces: try decodePieces(m.pieces, m.n_pieces, "SolveRequest")))
        case .solveResult:
            let m = envelope.solve_result.pointee
            return .solveResult(SolveResult(layer: Int(try required(m.has_layer, m.layer, "SolveResult.layer")),
                                            pieces: try decodePieces(m.pieces, m.n_pieces, "SolveResult")))
        case .applyLayer:
            let m = envelope.apply_layer.pointee
            return .applyLayer(ApplyLayer(layer: Int(try required(m.has_layer, m.layer, "ApplyLayer.layer")),
                                          stage: try requiredStage(m.has_stage, m.stage, "ApplyLayer.stage")))
        case .applied:
            let m = envelope.applied.pointee
            return .applied(Applied(layer: Int(try required(m.has_layer, m.layer, "Applied.layer")),
                                    stage: try requiredStage(m.has_stage, m.stage, "Applied.stage")))
        case .finishJob:
            return .finishJob(FinishJob())
        case .jobSummary:
            let m = envelope.job_summary.pointee
            return .jobSummary(JobSummary(
                peakResidentBytes: try required(m.has_peak_resident_bytes, m.peak_resident_bytes, "JobSummary.peak_resident_bytes"),
                forwardSeconds: m.has_forward_seconds != 0 ? m.forward_seconds : 0, statisticsSeconds: m.has_statistics_seconds != 0 ? m.statistics_seconds : 0,
                solveSeconds: m.has_solve_seconds != 0 ? m.solve_seconds : 0))
        default:
            throw WireError(.unknownType, "\(type) is not a job message")
        }
    }

    private static func decode(_ m: Calibrate__Wire__QuantScheme, _ field: String) throws(WireError) -> QuantScheme {
        let scheme = QuantScheme(
            bits: Int(try required(m.has_bits, m.bits, "\(field).bits")), symmetric: try required(m.has_symmetric, m.symmetric, "\(field).symmetric") != 0,
            groupSize: Int(try required(m.has_group_size, m.group_size, "\(field).group_size")),
            scaleFormat: try requiredString(m.scale_format, "\(field).scale_format"))
        guard (1...8).contains(scheme.bits), scheme.groupSize == -1 || scheme.groupSize > 0 else {
            throw WireError(.malformed, "\(field): \(scheme.bits) bits, group size \(scheme.groupSize); expected 1–8 bits and -1 or a positive group")
        }
        return scheme
    }

    private static func decodePieces(_ pieces: UnsafeMutablePointer<UnsafeMutablePointer<Calibrate__Wire__SolvePiece>?>?, _ count: Int,
                                     _ message: String) throws(WireError) -> [SolvePieceSpec] {
        var result: [SolvePieceSpec] = []
        for pointer in UnsafeBufferPointer(start: pieces, count: count) {
            guard let p = pointer?.pointee else { throw WireError(.malformed, "\(message).pieces holds a null piece") }
            let piece = SolvePieceSpec(
                linear: Int(try required(p.has_linear, p.linear, "\(message).pieces.linear")),
                rowBegin: Int(try required(p.has_row_begin, p.row_begin, "\(message).pieces.row_begin")),
                rowEnd: Int(try required(p.has_row_end, p.row_end, "\(message).pieces.row_end")), clip: p.has_clip != 0 && p.clip != 0)
            guard piece.rowBegin < piece.rowEnd else {
                throw WireError(.malformed, "\(message): rows \(piece.rowBegin)..<\(piece.rowEnd); expected row_begin < row_end")
            }
            result.append(piece)
        }
        return result
    }
}
