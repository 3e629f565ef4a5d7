import CWire
import JobProtocol
import Kernels
import Model
import Tensors

/// Job requests (`WorkerRequest`, coordinator → worker) to and from their protocol messages:
/// scalars in the body, tensors as named frames, a list's elements prefixed "<i>.". The same rules
/// as `WireCodec+Bodies.swift`: structs made here point into the encode's `CArena`, structs read
/// here belong to an envelope that `decode` frees. Decoding checks every field, count, prefix and
/// shape and throws a `WireError` naming the message, the field or the frame.
extension WireCodec {
    // MARK: Frames

    /// The frames of `request`, in the order they travel (tensors are shared, not copied).
    static func frames(of request: WorkerRequest) -> [NamedTensor] {
        switch request {
        case .start(let job, let embeddings):
            var frames = [NamedTensor("config_json", Tensor.integers(job.configJSON, dtype: .u8, shape: [job.configJSON.count]))]
                + sequenceFrames(job.sequences)
            if let embeddings { frames.append(NamedTensor("embeddings", embeddings)) }
            return frames
        case .loadLayer(_, let weights):
            return (weights ?? [:]).sorted { $0.key < $1.key }.map { NamedTensor($0.key, $0.value) }
        case .capture, .finish:
            return []
        case .fold(_, let fold):
            return foldFrames(fold)
        case .evaluateScales(let search):
            let width = search.candidates.first?.count ?? 0
            var frames = [NamedTensor("candidates", Tensor(floats: search.candidates.flatMap { $0 }, shape: [search.candidates.count, width]))]
            if let gram = search.gram { frames.append(NamedTensor("gram", gram)) }
            return frames
        case .solve(let task):
            var frames: [NamedTensor] = []
            if let factor = task.factor { frames += prefixed("factor.", factor.tensors()) }
            if let request = task.factorFrom { frames += prefixed("hessian_to_factor.", request.hessian.tensors()) }
            if let hessian = task.hessian {
                let k = Int(Double(hessian.count).squareRoot())
                frames.append(NamedTensor("hessian", Tensor(floats: hessian, shape: [k, k])))
            }
            return frames
        case .apply(_, _, let weights):
            return applyFrames(weights)
        case .rewind, .adopt, .replay, .mergeAdopted, .release:
            return recoveryFrames(of: request)
        }
    }

    /// A stage's quantized weights as frames "<position>." + their tensors (nil: none).
    static func applyFrames(_ weights: [QuantizedWeights?]) -> [NamedTensor] {
        weights.enumerated().flatMap { position, quantized in quantized.map { prefixed("\(position).", $0.tensors()) } ?? [] }
    }

    static func decodeApplied(_ tensors: [String: Tensor], layer: Int, stage: LayerStage) throws(WireError) -> [QuantizedWeights?] {
        try converting {
            try stage.linearNames.indices.map { position in
                try group(tensors, "\(position).").map { try QuantizedWeights(tensors: $0, name: "layer \(layer) \(stage.linearNames[position])") }
            }
        }
    }

    static func foldFrames(_ fold: LayerFold) -> [NamedTensor] {
        foldGroups.compactMap { name, path in fold[keyPath: path].map { NamedTensor(name, Tensor(floats: $0, shape: [$0.count])) } }
    }

    static func decodeFold(_ tensors: [String: Tensor], _ message: String) throws(WireError) -> LayerFold {
        var fold = LayerFold()
        for (name, path) in foldGroups {
            guard let tensor = tensors[name] else { continue }
            guard tensor.dtype == .f32, tensor.shape.count == 1 else { throw WireError(.invalidArgument, "\(message): \(name) must be F32 [K]") }
            fold[keyPath: path] = tensor.floats()
        }
        return fold
    }

    /// Token ids and lengths as frames (JobSpec, Adopt).
    static func sequenceFrames(_ sequences: [[Int32]]) -> [NamedTensor] {
        [
            NamedTensor("tokens", Tensor.integers(sequences.flatMap { $0 }, dtype: .i32, shape: [sequences.reduce(0) { $0 + $1.count }])),
            NamedTensor("lengths", Tensor.integers(sequences.map { Int64($0.count) }, dtype: .i64, shape: [sequences.count])),
        ]
    }

    static func decodeSequences(tokens: Tensor, lengths: Tensor, _ message: String) throws(WireError) -> [[Int32]] {
        guard tokens.dtype == .i32, lengths.dtype == .i64, tokens.shape.count == 1, lengths.shape.count == 1 else {
            throw WireError(.invalidArgument, "\(message): tokens must be I32 [total], lengths I64 [samples]")
        }
        let ids = tokens.integers(as: Int32.self)
        let counts = lengths.integers(as: Int64.self)
        // Each length is checked against what is left before it is added: a sum of huge lengths
        // can neither overflow nor wrap around to the token count.
        var remaining = Int64(ids.count)
        for count in counts {
            guard count > 0, count <= remaining else {
                throw WireError(.invalidArgument, "\(message): lengths \(counts.prefix(8))… do not add up to the \(ids.count) tokens")
            }
            remaining -= count
        }
        guard remaining == 0 else {
            throw WireError(.invalidArgument, "\(message): lengths \(counts.prefix(8))… do not add up to the \(ids.count) tokens")
        }
        var sequences: [[Int32]] = []
        var start = 0
        for count in counts {
            sequences.append(Array(ids[start..<(start + Int(count))]))
            start += Int(count)
        }
        return sequences
    }

    /// Fold's frame names and the `LayerFold` groups they carry.
    static var foldGroups: [(String, WritableKeyPath<LayerFold, [Float]?>)] {
        [
        ("attention_input", \.attentionInput), ("attention_output", \.attentionOutput), ("mlp_input", \.mlpInput), ("mlp_output", \.mlpOutput),
        ]
    }

    // MARK: Encoding

    static func setBody(_ request: WorkerRequest, of envelope: inout Calibrate__Wire__Envelope, arena: CArena) {
        switch request {
        case .start(let job, _):
            var m = Calibrate__Wire__JobSpec()
            calibrate__wire__job_spec__init(&m)
            setFields(job, of: &m, arena: arena)
            envelope.job_spec = arena.object(m)
        case .loadLayer(let index, _):
            var m = Calibrate__Wire__LoadLayer()
            calibrate__wire__load_layer__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(index))
            envelope.load_layer = arena.object(m)
        case .capture(let layer, let stages):
            var m = Calibrate__Wire__CaptureStats()
            calibrate__wire__capture_stats__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(layer))
            (m.n_stages, m.stages) = (stages.count, arena.array(stages.map(wire)))
            envelope.capture_stats = arena.object(m)
        case .fold(let layer, _):
            var m = Calibrate__Wire__Fold()
            calibrate__wire__fold__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(layer))
            envelope.fold = arena.object(m)
        case .evaluateScales(let search):
            var m = Calibrate__Wire__ScaleSearch()
            calibrate__wire__scale_search__init(&m)
            setFields(search, of: &m, arena: arena)
            (m.has_group, m.group) = (1, wire(search.group))
            m.scheme = arena.object(encode(search.scheme, arena))
            (m.n_rows, m.rows) = (search.rows.count, encodeRanges(search.rows, arena))
            envelope.scale_search = arena.object(m)
        case .solve(let task):
            var o = Calibrate__Wire__SolveOptions()
            calibrate__wire__solve_options__init(&o)
            o.scheme = arena.object(encode(task.options.scheme, arena))
            setFields(task.options, of: &o, arena: arena)
            if let clipping = task.options.clipping {
                (o.has_clip_grid, o.clip_grid) = (1, UInt32(clipping.grid))
                (o.has_clip_max_shrink, o.clip_max_shrink) = (1, clipping.maxShrink)
            }
            var m = Calibrate__Wire__SolveRequest()
            calibrate__wire__solve_request__init(&m)
            setFields(task, of: &m, arena: arena)
            (m.has_stage, m.stage) = (1, wire(task.stage))
            (m.has_method, m.method) = (1, task.method == .gptq ? CALIBRATE__WIRE__SOLVE_METHOD__GPTQ : CALIBRATE__WIRE__SOLVE_METHOD__RTN)
            m.options = arena.object(o)
            if let request = task.factorFrom {
                var f = Calibrate__Wire__FactorOptions()
                calibrate__wire__factor_options__init(&f)
                (f.has_damp_percent, f.damp_percent) = (1, request.options.dampingPercent)
                (f.has_act_order, f.act_order) = (1, request.options.activationOrder ? 1 : 0)
                (f.has_max_retries, f.max_retries) = (1, UInt32(request.options.maxDampingRetries))
                (f.has_growth, f.growth) = (1, request.options.dampingGrowth)
                m.factor_options = arena.object(f)
            }
            let pieces = task.pieces.map { piece in
                Optional(arena.object(encodePiece(linear: piece.linear, rows: piece.rows, clip: piece.clip)))
            }
            (m.n_pieces, m.pieces) = (pieces.count, arena.array(pieces))
            envelope.solve_request = arena.object(m)
        case .apply(let layer, let stage, _):
            var m = Calibrate__Wire__ApplyLayer()
            calibrate__wire__apply_layer__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(layer))
            (m.has_stage, m.stage) = (1, wire(stage))
            envelope.apply_layer = arena.object(m)
        case .finish:
            var m = Calibrate__Wire__FinishJob()
            calibrate__wire__finish_job__init(&m)
            envelope.finish_job = arena.object(m)
        case .rewind, .adopt, .replay, .mergeAdopted, .release:
            setRecoveryBody(request, of: &envelope, arena: arena)
        }
    }

    // MARK: Decoding

    /// The request in `envelope` (of job request type `type`), with its frames.
    static func decodeRequest(
        of envelope: Calibrate__Wire__Envelope, type: MessageType, jobID: String, frames: [NamedTensor]
    ) throws(WireError) -> WorkerRequest {
        let tensors = Dictionary(frames.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        func require(_ name: String) throws(WireError) -> Tensor {
            guard let tensor = tensors[name] else {
                throw WireError(.invalidArgument, "\(type) carries no tensor \"\(name)\"; it has [\(frames.map(\.name).joined(separator: ", "))]")
            }
            return tensor
        }
        switch type {
        case .jobSpec:
            let m = envelope.job_spec.pointee
            let (config, tokens, lengths) = (try require("config_json"), try require("tokens"), try require("lengths"))
            guard config.dtype == .u8, tokens.dtype == .i32, lengths.dtype == .i64, tokens.shape.count == 1, lengths.shape.count == 1 else {
                throw WireError(.invalidArgument, "JobSpec: config_json must be U8, tokens I32 [total], lengths I64 [samples]")
            }
            let sequences = try decodeSequences(tokens: tokens, lengths: lengths, "JobSpec")
            var job = WorkerJob(jobID: jobID, modelPath: nil, configJSON: config.integers(as: UInt8.self), sequences: sequences, firstSample: 0)
            try fields(of: m, into: &job)
            guard job.statisticsBlock >= 1 else { throw WireError(.malformed, "JobSpec.statistics_block is 0; expected at least 1") }
            return .start(job, embeddings: tensors["embeddings"])
        case .loadLayer:
            let m = envelope.load_layer.pointee
            return .loadLayer(index: Int(try required(m.has_layer, m.layer, "LoadLayer.layer")), weights: tensors.isEmpty ? nil : tensors)
        case .captureStats:
            let m = envelope.capture_stats.pointee
            var stages: [LayerStage] = []
            for raw in UnsafeBufferPointer(start: m.stages, count: m.n_stages) {
                stages.append(try stage(1, raw, "CaptureStats.stages"))
            }
            guard !stages.isEmpty, Set(stages).count == stages.count else {
                throw WireError(.malformed, "CaptureStats.stages must name at least one stage, each once")
            }
            return .capture(layer: Int(try required(m.has_layer, m.layer, "CaptureStats.layer")), stages: stages)
        case .fold:
            let m = envelope.fold.pointee
            return .fold(layer: Int(try required(m.has_layer, m.layer, "Fold.layer")), try decodeFold(tensors, "Fold"))
        case .scaleSearch:
            let m = envelope.scale_search.pointee
            let group = try scaleGroup(m.has_group, m.group, "ScaleSearch.group")
            guard let scheme = m.scheme?.pointee else { throw WireError(.malformed, "ScaleSearch.scheme is missing") }
            let rows = try decodeRanges(m.rows, m.n_rows, "ScaleSearch.rows")
            let candidates = try require("candidates")
            guard candidates.dtype == .f32, candidates.shape.count == 2 else { throw WireError(.invalidArgument, "ScaleSearch: candidates must be F32 [n, K]") }
            let (n, k) = (candidates.shape[0], candidates.shape[1])
            let values = candidates.floats()
            // Output groups come with XᵀX and rows (loss from the gram), or with neither (loss on
            // the worker's samples); input groups with neither.
            let gram = tensors["gram"]
            if let gram {
                guard group.isOutputGroup else { throw WireError(.invalidArgument, "ScaleSearch \(group): a gram frame only goes with o_proj or down_proj") }
                guard gram.dtype == .f64, gram.shape == [k, k] else {
                    throw WireError(.invalidArgument, "ScaleSearch \(group): gram must be F64 [\(k), \(k)]; found \(gram.dtype) \(gram.shape)")
                }
                guard !rows.isEmpty else { throw WireError(.invalidArgument, "ScaleSearch \(group): XᵀX but no rows") }
            } else if !rows.isEmpty {
                throw WireError(.invalidArgument, "ScaleSearch \(group): rows without a gram frame")
            }
            var search = ScaleSearch(layer: 0, group: group, candidates: (0..<n).map { Array(values[($0 * k)..<(($0 + 1) * k)]) },
                                     scheme: try decode(scheme, "ScaleSearch.scheme"), rows: rows, gram: gram)
            try fields(of: m, into: &search)
            return .evaluateScales(search)
        case .solveRequest:
            let m = envelope.solve_request.pointee
            guard let o = m.options?.pointee, let scheme = o.scheme?.pointee else { throw WireError(.malformed, "SolveRequest.options.scheme is missing") }
            let method: SolveTask.Method
            switch try required(m.has_method, m.method, "SolveRequest.method") {
            case CALIBRATE__WIRE__SOLVE_METHOD__GPTQ: method = .gptq
            case CALIBRATE__WIRE__SOLVE_METHOD__RTN: method = .rtn
            case let other: throw WireError(.malformed, "SolveRequest.method is \(other.rawValue); expected 1 (GPTQ) or 2 (RTN)")
            }
            let stage = try stage(m.has_stage, m.stage, "SolveRequest.stage")
            let clipping = try converting { () throws -> ClippingSearch? in
                guard o.has_clip_grid != 0 else { return nil }
                return try ClippingSearch(grid: Int(o.clip_grid), maxShrink: o.has_clip_max_shrink != 0 ? o.clip_max_shrink : 0.8)
            }
            var options = GPTQSolveOptions(scheme: try decode(scheme, "SolveRequest.options.scheme"), clipping: clipping)
            try fields(of: o, into: &options)
            let pieces = try decodePieces(m.pieces, m.n_pieces, "SolveRequest").map { SolveTask.Piece(linear: $0.linear, rows: $0.rows, clip: $0.clip) }
            var task = SolveTask(layer: 0, stage: stage, method: method, options: options, factor: nil,
                                 hessian: tensors["hessian"].map { $0.floats() }, pieces: pieces)
            try fields(of: m, into: &task)
            let name = "layer \(task.layer) \(stage)"
            task.factor = try converting { try group(tensors, "factor.").map { try GPTQFactor(tensors: $0, name: name) } }
            let hessian = try converting { try group(tensors, "hessian_to_factor.").map { try GPTQHessian(tensors: $0, name: name) } }
            switch (m.factor_options?.pointee, hessian) {
            case (nil, nil): break
            case (let f?, let hessian?):
                guard f.has_damp_percent != 0, f.damp_percent.isFinite, f.damp_percent >= 0, f.has_growth != 0, f.growth.isFinite, f.growth > 1,
                      f.has_max_retries != 0, f.max_retries <= 100 else {
                    throw WireError(.malformed, "SolveRequest.factor_options: damp_percent \(f.damp_percent), growth \(f.growth), max_retries \(f.max_retries); expected damp ≥ 0, growth > 1, at most 100 retries, all present")
                }
                task.factorFrom = FactorRequest(hessian: hessian, options: GPTQFactorOptions(
                    dampingPercent: f.damp_percent, activationOrder: f.has_act_order != 0 && f.act_order != 0, maxDampingRetries: Int(f.max_retries), dampingGrowth: f.growth))
            default: throw WireError(.malformed, "SolveRequest: factor_options and \"hessian_to_factor.\" frames come together; one is missing")
            }
            return .solve(task)
        case .applyLayer:
            let m = envelope.apply_layer.pointee
            let layer = Int(try required(m.has_layer, m.layer, "ApplyLayer.layer"))
            let stage = try stage(m.has_stage, m.stage, "ApplyLayer.stage")
            return .apply(layer: layer, stage: stage, weights: try decodeApplied(tensors, layer: layer, stage: stage))
        case .finishJob:
            return .finish
        case .rewind, .adopt, .replayLayer, .mergeAdopted, .release:
            return try decodeRecoveryRequest(of: envelope, type: type, tensors: tensors)
        default:
            throw WireError(.unknownType, "\(type) is not a job request")
        }
    }

    // MARK: Shared by requests and replies

    static func wire(_ stage: LayerStage) -> Calibrate__Wire__Stage {
        switch stage {
        case .qkv: CALIBRATE__WIRE__STAGE__QKV
        case .o: CALIBRATE__WIRE__STAGE__O
        case .gateUp: CALIBRATE__WIRE__STAGE__GATE_UP
        case .down: CALIBRATE__WIRE__STAGE__DOWN
        }
    }

    /// A required stage field.
    static func stage(_ has: protobuf_c_boolean, _ value: Calibrate__Wire__Stage, _ field: String) throws(WireError) -> LayerStage {
        switch try required(has, value, field) {
        case CALIBRATE__WIRE__STAGE__QKV: .qkv
        case CALIBRATE__WIRE__STAGE__O: .o
        case CALIBRATE__WIRE__STAGE__GATE_UP: .gateUp
        case CALIBRATE__WIRE__STAGE__DOWN: .down
        case let other: throw WireError(.malformed, "\(field) is \(other.rawValue); expected 1 to \(LayerStage.allCases.count)")
        }
    }

    static func wire(_ group: ScaleSearch.Group) -> Calibrate__Wire__ScaleGroup {
        switch group {
        case .attentionInput: CALIBRATE__WIRE__SCALE_GROUP__ATTENTION_INPUT
        case .mlpInput: CALIBRATE__WIRE__SCALE_GROUP__MLP_INPUT
        case .attentionOutput: CALIBRATE__WIRE__SCALE_GROUP__ATTENTION_OUTPUT
        case .mlpOutput: CALIBRATE__WIRE__SCALE_GROUP__MLP_OUTPUT
        }
    }

    static func scaleGroup(_ has: protobuf_c_boolean, _ value: Calibrate__Wire__ScaleGroup, _ field: String) throws(WireError) -> ScaleSearch.Group {
        switch try required(has, value, field) {
        case CALIBRATE__WIRE__SCALE_GROUP__ATTENTION_INPUT: .attentionInput
        case CALIBRATE__WIRE__SCALE_GROUP__MLP_INPUT: .mlpInput
        case CALIBRATE__WIRE__SCALE_GROUP__ATTENTION_OUTPUT: .attentionOutput
        case CALIBRATE__WIRE__SCALE_GROUP__MLP_OUTPUT: .mlpOutput
        case let other: throw WireError(.malformed, "\(field) is \(other.rawValue); expected 1–4")
        }
    }

    static func encode(_ scheme: QuantizationScheme, _ arena: CArena) -> Calibrate__Wire__QuantScheme {
        var m = Calibrate__Wire__QuantScheme()
        calibrate__wire__quant_scheme__init(&m)
        (m.has_bits, m.bits) = (1, UInt32(scheme.bits))
        (m.has_symmetric, m.symmetric) = (1, scheme.symmetric ? 1 : 0)
        (m.has_group_size, m.group_size) = (1, Int32(scheme.groupSize))
        m.scale_format = arena.string(scheme.scaleFormat.rawValue)
        return m
    }

    static func decode(_ m: Calibrate__Wire__QuantScheme, _ field: String) throws(WireError) -> QuantizationScheme {
        let bits = Int(try required(m.has_bits, m.bits, "\(field).bits"))
        let symmetric = try required(m.has_symmetric, m.symmetric, "\(field).symmetric") != 0
        let groupSize = Int(try required(m.has_group_size, m.group_size, "\(field).group_size"))
        let name = try requiredString(m.scale_format, "\(field).scale_format")
        guard let format = ScaleFormat(rawValue: name) else {
            throw WireError(.malformed, "\(field).scale_format is \"\(name)\"; expected \(ScaleFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        do {
            return try QuantizationScheme(bits: bits, symmetric: symmetric, groupSize: groupSize, scaleFormat: format)
        } catch {
            throw WireError(.malformed, "\(field): \(error.message)")
        }
    }

    /// Non-empty ranges as repeated RowRange (ScaleSearch.rows, Adopt.blocks).
    static func encodeRanges(_ ranges: [Range<Int>], _ arena: CArena) -> UnsafeMutablePointer<UnsafeMutablePointer<Calibrate__Wire__RowRange>?>? {
        arena.array(ranges.map { range in
            var r = Calibrate__Wire__RowRange()
            calibrate__wire__row_range__init(&r)
            (r.has_begin, r.begin, r.has_end, r.end) = (1, UInt32(range.lowerBound), 1, UInt32(range.upperBound))
            return Optional(arena.object(r))
        })
    }

    /// Repeated RowRange back, each with both ends and begin < end.
    static func decodeRanges(_ ranges: UnsafeMutablePointer<UnsafeMutablePointer<Calibrate__Wire__RowRange>?>?, _ count: Int,
                             _ field: String) throws(WireError) -> [Range<Int>] {
        var result: [Range<Int>] = []
        for pointer in UnsafeBufferPointer(start: ranges, count: count) {
            guard let r = pointer?.pointee else { throw WireError(.malformed, "\(field) holds a null range") }
            let (begin, end) = (Int(try required(r.has_begin, r.begin, "\(field).begin")), Int(try required(r.has_end, r.end, "\(field).end")))
            guard begin < end else { throw WireError(.malformed, "\(field): \(begin)..<\(end); expected begin < end") }
            result.append(begin..<end)
        }
        return result
    }

    static func encodePiece(linear: Int, rows: Range<Int>, clip: Bool, seconds: Double? = nil) -> Calibrate__Wire__SolvePiece {
        var m = Calibrate__Wire__SolvePiece()
        calibrate__wire__solve_piece__init(&m)
        (m.has_linear, m.linear) = (1, UInt32(linear))
        (m.has_row_begin, m.row_begin) = (1, UInt32(rows.lowerBound))
        (m.has_row_end, m.row_end) = (1, UInt32(rows.upperBound))
        if clip { (m.has_clip, m.clip) = (1, 1) }
        if let seconds { (m.has_seconds, m.seconds) = (1, seconds) }
        return m
    }

    static func decodePieces(_ pieces: UnsafeMutablePointer<UnsafeMutablePointer<Calibrate__Wire__SolvePiece>?>?, _ count: Int,
                             _ message: String) throws(WireError) -> [(linear: Int, rows: Range<Int>, clip: Bool, seconds: Double)] {
        var result: [(linear: Int, rows: Range<Int>, clip: Bool, seconds: Double)] = []
        for pointer in UnsafeBufferPointer(start: pieces, count: count) {
            guard let p = pointer?.pointee else { throw WireError(.malformed, "\(message).pieces holds a null piece") }
            let linear = Int(try required(p.has_linear, p.linear, "\(message).pieces.linear"))
            let (begin, end) = (Int(try required(p.has_row_begin, p.row_begin, "\(message).pieces.row_begin")),
                                Int(try required(p.has_row_end, p.row_end, "\(message).pieces.row_end")))
            guard begin < end else { throw WireError(.malformed, "\(message): rows \(begin)..<\(end); expected row_begin < row_end") }
            // A time, only ever read as a hint: anything but a finite non-negative one is 0.
            let seconds = p.has_seconds != 0 && p.seconds.isFinite && p.seconds >= 0 ? p.seconds : 0
            result.append((linear, begin..<end, p.has_clip != 0 && p.clip != 0, seconds))
        }
        return result
    }

    /// An integer field as `Int`.
    static func integer<T: BinaryInteger>(_ value: T, _ field: String) throws(WireError) -> Int {
        guard let integer = Int(exactly: value) else { throw WireError(.malformed, "\(field) is \(value), more than this side can hold") }
        return integer
    }

    static func prefixed(_ prefix: String, _ tensors: [String: Tensor]) -> [NamedTensor] {
        tensors.sorted { $0.key < $1.key }.map { NamedTensor(prefix + $0.key, $0.value) }
    }

    /// The tensors whose names start with `prefix`, prefix removed; nil when there are none.
    static func group(_ tensors: [String: Tensor], _ prefix: String) -> [String: Tensor]? {
        let part = tensors.filter { $0.key.hasPrefix(prefix) }
        guard !part.isEmpty else { return nil }
        return Dictionary(uniqueKeysWithValues: part.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
    }

    /// `body`'s value; a domain error decoding frames (a `KernelError` naming the tensor) becomes
    /// an `.invalidArgument` `WireError` with its text.
    static func converting<T>(_ body: () throws -> T) throws(WireError) -> T {
        do { return try body() } catch let error as WireError { throw error } catch {
            throw WireError(.invalidArgument, "\(error)")
        }
    }
}
