import Kernels
import Model
import Tensors
import Wire
import WorkerCore

/// The one place where the job's `WorkerRequest` / `WorkerReply` values become protocol messages
/// and back (Protocols/calibrate.proto, "job"). Scalars go in the body, tensors as named frames;
/// a list's elements are prefixed "<i>.". Decoding checks every count, prefix and shape and throws
/// a `WireError` naming the message and the tensor.
public enum JobCodec {
    // MARK: Requests (coordinator → worker)

    /// The body and frames of `request`.
    public static func encode(_ request: WorkerRequest) throws -> (Body, [NamedTensor]) {
        switch request {
        case .start(let job, let embeddings):
            var tensors = [
                NamedTensor("config_json", try Tensor(dtype: .u8, shape: [job.configJSON.count], bytes: job.configJSON)),
                NamedTensor("tokens", integers(job.sequences.flatMap { $0 }, .i32)),
                NamedTensor("lengths", integers(job.sequences.map { Int64($0.count) }, .i64)),
            ]
            if let embeddings { tensors.append(NamedTensor("embeddings", embeddings)) }
            let spec = JobSpec(modelPath: job.modelPath, firstSample: job.firstSample, threads: job.threads,
                               trueSequential: job.trueSequential, statisticsBlock: job.statisticsBlock)
            return (.jobSpec(spec), tensors)
        case .loadLayer(let index, let weights):
            return (.loadLayer(LoadLayer(layer: index)), (weights ?? [:]).sorted { $0.key < $1.key }.map { NamedTensor($0.key, $0.value) })
        case .capture(let layer, let stages):
            return (.captureStats(CaptureStats(layer: layer, stages: stages.map(wire))), [])
        case .fold(let layer, let fold):
            var tensors: [NamedTensor] = []
            for (name, scales) in [("attention_input", fold.attentionInput), ("attention_output", fold.attentionOutput),
                                   ("mlp_input", fold.mlpInput), ("mlp_output", fold.mlpOutput)] {
                if let scales { tensors.append(NamedTensor(name, Tensor(floats: scales, shape: [scales.count]))) }
            }
            return (.fold(Fold(layer: layer)), tensors)
        case .evaluateScales(let search):
            let width = search.candidates.first?.count ?? 0
            let candidates = Tensor(floats: search.candidates.flatMap { $0 }, shape: [search.candidates.count, width])
            let group = wire(search.group)
            var tensors = [NamedTensor("candidates", candidates)]
            if let gram = search.gram { tensors.append(NamedTensor("gram", gram)) }
            return (.scaleSearch(ScaleSearchRequest(layer: search.layer, group: group, scheme: wire(search.scheme), rows: search.rows)), tensors)
        case .solve(let task):
            var tensors: [NamedTensor] = []
            if let factor = task.factor { tensors += prefixed("factor.", factor.tensors()) }
            if let hessian = task.hessian {
                let k = Int(Double(hessian.count).squareRoot())
                tensors.append(NamedTensor("hessian", Tensor(floats: hessian, shape: [k, k])))
            }
            let options = SolveOptionsSpec(
                scheme: wire(task.options.scheme), staticGroups: task.options.staticGroups, blockSize: task.options.blockSize,
                rowTile: task.options.rowTile, clipGrid: task.options.clipping?.grid, clipMaxShrink: task.options.clipping?.maxShrink)
            let pieces = task.pieces.map { SolvePieceSpec(linear: $0.linear, rowBegin: $0.rows.lowerBound, rowEnd: $0.rows.upperBound, clip: $0.clip) }
            return (.solveRequest(SolveRequest(layer: task.layer, stage: wire(task.stage), method: task.method == .gptq ? .gptq : .rtn,
                                               options: options, pieces: pieces)), tensors)
        case .apply(let layer, let stage, let weights):
            var tensors: [NamedTensor] = []
            for (position, quantized) in weights.enumerated() {
                if let quantized { tensors += prefixed("\(position).", quantized.tensors()) }
            }
            return (.applyLayer(ApplyLayer(layer: layer, stage: wire(stage))), tensors)
        case .finish:
            return (.finishJob(FinishJob()), [])
        }
    }

    /// The request a worker received.
    public static func decodeRequest(_ message: Message) throws -> WorkerRequest {
        let tensors = Dictionary(message.tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        switch message.body {
        case .jobSpec(let spec):
            let config = try message.requireTensor(named: "config_json")
            let tokens = try message.requireTensor(named: "tokens")
            let lengths = try message.requireTensor(named: "lengths")
            guard config.dtype == .u8, tokens.dtype == .i32, lengths.dtype == .i64, tokens.shape.count == 1, lengths.shape.count == 1 else {
                throw WireError(.invalidArgument, "JobSpec: config_json must be U8, tokens I32 [total], lengths I64 [samples]")
            }
            let ids = values(tokens, Int32.self)
            let counts = values(lengths, Int64.self).map { Int($0) }
            guard counts.allSatisfy({ $0 > 0 }), counts.reduce(0, +) == ids.count else {
                throw WireError(.invalidArgument, "JobSpec: lengths \(counts.prefix(8))… do not add up to the \(ids.count) tokens")
            }
            var sequences: [[Int32]] = []
            var start = 0
            for count in counts {
                sequences.append(Array(ids[start..<(start + count)]))
                start += count
            }
            let job = WorkerJob(jobID: message.jobID, modelPath: spec.modelPath, configJSON: config.withUnsafeBytes { Array($0) },
                                sequences: sequences, firstSample: spec.firstSample, threads: spec.threads,
                                trueSequential: spec.trueSequential, statisticsBlock: spec.statisticsBlock)
            return .start(job, embeddings: tensors["embeddings"])
        case .loadLayer(let load):
            return .loadLayer(index: load.layer, weights: tensors.isEmpty ? nil : tensors)
        case .captureStats(let capture):
            return .capture(layer: capture.layer, stages: capture.stages.map(layerStage))
        case .fold(let fold):
            func scales(_ name: String) throws -> [Float]? {
                guard let tensor = tensors[name] else { return nil }
                guard tensor.dtype == .f32, tensor.shape.count == 1 else { throw WireError(.invalidArgument, "Fold: \(name) must be F32 [K]") }
                return tensor.floats()
            }
            return .fold(layer: fold.layer, LayerFold(attentionInput: try scales("attention_input"), attentionOutput: try scales("attention_output"),
                                                      mlpInput: try scales("mlp_input"), mlpOutput: try scales("mlp_output")))
        case .scaleSearch(let search):
            let candidates = try message.requireTensor(named: "candidates")
            guard candidates.dtype == .f32, candidates.shape.count == 2 else { throw WireError(.invalidArgument, "ScaleSearch: candidates must be F32 [n, K]") }
            let (n, k) = (candidates.shape[0], candidates.shape[1])
            let values = candidates.floats()
            let group = scaleGroup(search.group)
            let gram = tensors["gram"]
            // Output groups come with XᵀX and rows (loss from the gram), or with neither (loss on
            // the worker's samples); input groups with neither.
            if let gram {
                guard group.isOutputGroup else { throw WireError(.invalidArgument, "ScaleSearch \(group): a gram frame only goes with o_proj or down_proj") }
                guard gram.dtype == .f64, gram.shape == [k, k] else {
                    throw WireError(.invalidArgument, "ScaleSearch \(group): gram must be F64 [\(k), \(k)]; found \(gram.dtype) \(gram.shape)")
                }
                guard !search.rows.isEmpty else { throw WireError(.invalidArgument, "ScaleSearch \(group): XᵀX but no rows") }
            } else if !search.rows.isEmpty {
                throw WireError(.invalidArgument, "ScaleSearch \(group): rows without a gram frame")
            }
            return .evaluateScales(ScaleSearch(layer: search.layer, group: group,
                                               candidates: (0..<n).map { Array(values[($0 * k)..<(($0 + 1) * k)]) }, scheme: try scheme(search.scheme),
                                               rows: search.rows, gram: gram))
        case .solveRequest(let request):
            let factor = try group(tensors, "factor.").map { try GPTQFactor(tensors: $0, name: "layer \(request.layer) \(request.stage)") }
            let hessian = tensors["hessian"].map { $0.floats() }
            let clipping = try request.options.clipGrid.map { try ClippingSearch(grid: $0, maxShrink: request.options.clipMaxShrink ?? 0.8) }
            let options = GPTQSolveOptions(scheme: try scheme(request.options.scheme), staticGroups: request.options.staticGroups,
                                           blockSize: request.options.blockSize, rowTile: request.options.rowTile, clipping: clipping)
            return .solve(SolveTask(layer: request.layer, stage: layerStage(request.stage), method: request.method == .gptq ? .gptq : .rtn,
                                    options: options, factor: factor, hessian: hessian,
                                    pieces: request.pieces.map { SolveTask.Piece(linear: $0.linear, rows: $0.rowBegin..<$0.rowEnd, clip: $0.clip) }))
        case .applyLayer(let apply):
            let stage = layerStage(apply.stage)
            let weights = try stage.linearNames.indices.map { position in
                try group(tensors, "\(position).").map { try QuantizedWeights(tensors: $0, name: "layer \(apply.layer) \(stage.linearNames[position])") }
            }
            return .apply(layer: apply.layer, stage: stage, weights: weights)
        case .finishJob:
            return .finish
        default:
            throw WireError(.unexpected, "\(message.type) is not a job request")
        }
    }

    // MARK: Replies (worker → coordinator)

    /// The body and frames of `reply` to `request`.
    public static func encode(_ reply: WorkerCore.WorkerReply, to request: Message) throws -> (Body, [NamedTensor]) {
        switch reply {
        case .started(let tokens):
            return (.jobAccepted(JobAccepted(tokenCount: tokens)), [])
        case .loaded:
            guard case .loadLayer(let load) = request.body else { throw mismatch(reply, request) }
            return (.layerLoaded(LayerLoaded(layer: load.layer)), [])
        case .statistics(let statistics):
            guard case .captureStats(let capture) = request.body else { throw mismatch(reply, request) }
            var tensors: [NamedTensor] = []
            for (position, part) in statistics.enumerated() { tensors += prefixed("\(position).", part.tensors()) }
            return (.statsReport(StatsReport(layer: capture.layer, stageCount: statistics.count)), tensors)
        case .folded:
            guard case .fold(let fold) = request.body else { throw mismatch(reply, request) }
            return (.folded(Folded(layer: fold.layer)), [])
        case .losses(let losses):
            let sums = losses.sums.withUnsafeBytes { TensorStorage(copying: $0) }
            return (.scaleLosses(ScaleLossesReport(elements: losses.elements)), [NamedTensor("sums", try Tensor(dtype: .i64, shape: [losses.sums.count, 2], storage: sums))])
        case .solved(let pieces):
            guard case .solveRequest(let request) = request.body else { throw mismatch(reply, request) }
            var tensors: [NamedTensor] = []
            var specs: [SolvePieceSpec] = []
            for (position, piece) in pieces.enumerated() {
                tensors += prefixed("\(position).", piece.result.tensors())
                let clip = request.pieces.first { $0.linear == piece.linear && $0.rowBegin == piece.result.firstRow }?.clip ?? false
                specs.append(SolvePieceSpec(linear: piece.linear, rowBegin: piece.result.rows.lowerBound, rowEnd: piece.result.rows.upperBound, clip: clip))
            }
            return (.solveResult(SolveResult(layer: request.layer, pieces: specs)), tensors)
        case .applied:
            guard case .applyLayer(let apply) = request.body else { throw mismatch(reply, request) }
            return (.applied(Applied(layer: apply.layer, stage: apply.stage)), [])
        case .finished(let summary):
            return (.jobSummary(JobSummary(peakResidentBytes: UInt64(summary.peakResidentBytes), forwardSeconds: summary.forwardSeconds,
                                           statisticsSeconds: summary.statisticsSeconds, solveSeconds: summary.solveSeconds)), [])
        }
    }

    /// The reply the coordinator received.
    public static func decodeReply(_ message: Message) throws -> WorkerCore.WorkerReply {
        let tensors = Dictionary(message.tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        switch message.body {
        case .jobAccepted(let accepted):
            return .started(tokens: accepted.tokenCount)
        case .layerLoaded:
            return .loaded
        case .statsReport(let report):
            return .statistics(try (0..<report.stageCount).map { position in
                guard let part = group(tensors, "\(position).") else { throw WireError(.invalidArgument, "StatsReport: no tensors for stage position \(position)") }
                return try ActivationStatistics(tensors: part, name: "layer \(report.layer) stage position \(position)")
            })
        case .folded:
            return .folded
        case .scaleLosses(let report):
            let sums = try message.requireTensor(named: "sums")
            guard sums.dtype == .i64, sums.shape.count == 2, sums.shape[1] == 2 else { throw WireError(.invalidArgument, "ScaleLosses: sums must be I64 [n, 2]") }
            var values = [Int128](repeating: 0, count: sums.shape[0])
            values.withUnsafeMutableBytes { destination in sums.withUnsafeBytes { destination.copyMemory(from: $0) } }
            return .losses(ScaleLosses(sums: values, elements: report.elements))
        case .solveResult(let result):
            return .solved(try result.pieces.enumerated().map { position, spec in
                guard let part = group(tensors, "\(position).") else { throw WireError(.invalidArgument, "SolveResult: no tensors for piece \(position)") }
                let solved = try GPTQSolveResult(tensors: part, name: "layer \(result.layer) piece \(position)")
                guard solved.rows == spec.rowBegin..<spec.rowEnd else {
                    throw WireError(.invalidArgument, "SolveResult: piece \(position) holds rows \(solved.rows), its header says \(spec.rowBegin)..<\(spec.rowEnd)")
                }
                return SolvedPiece(linear: spec.linear, result: solved)
            })
        case .applied:
            return .applied
        case .jobSummary(let summary):
            return .finished(WorkerSummary(peakResidentBytes: Int(summary.peakResidentBytes), forwardSeconds: summary.forwardSeconds,
                                           statisticsSeconds: summary.statisticsSeconds, solveSeconds: summary.solveSeconds))
        default:
            throw WireError(.unexpected, "\(message.type) is not a job reply")
        }
    }

    // MARK: Helpers

    static func wire(_ stage: LayerStage) -> Stage { Stage(rawValue: UInt32(stage.rawValue) + 1)! }

    static func layerStage(_ stage: Stage) -> LayerStage { LayerStage(rawValue: Int(stage.rawValue) - 1)! }

    static func wire(_ group: ScaleSearch.Group) -> ScaleGroup {
        switch group {
        case .attentionInput: .attentionInput
        case .mlpInput: .mlpInput
        case .attentionOutput: .attentionOutput
        case .mlpOutput: .mlpOutput
        }
    }

    static func scaleGroup(_ group: ScaleGroup) -> ScaleSearch.Group {
        switch group {
        case .attentionInput: .attentionInput
        case .mlpInput: .mlpInput
        case .attentionOutput: .attentionOutput
        case .mlpOutput: .mlpOutput
        }
    }

    static func wire(_ scheme: QuantizationScheme) -> QuantScheme {
        QuantScheme(bits: scheme.bits, symmetric: scheme.symmetric, groupSize: scheme.groupSize, scaleFormat: scheme.scaleFormat.rawValue)
    }

    static func scheme(_ scheme: QuantScheme) throws -> QuantizationScheme {
        guard let format = ScaleFormat(rawValue: scheme.scaleFormat) else {
            throw WireError(.invalidArgument, "scale format \"\(scheme.scaleFormat)\"; expected float32, float16 or bfloat16")
        }
        return try QuantizationScheme(bits: scheme.bits, symmetric: scheme.symmetric, groupSize: scheme.groupSize, scaleFormat: format)
    }

    static func integers<T: FixedWidthInteger>(_ values: [T], _ dtype: DType) -> Tensor {
        precondition(dtype.byteSize == MemoryLayout<T>.size, "JobCodec.integers: \(T.self) is not \(dtype.rawValue)")
        let storage = values.withUnsafeBytes { TensorStorage(copying: $0) }
        // Cannot throw: a 1-D shape of values.count elements of T's width is exactly these bytes.
        return try! Tensor(dtype: dtype, shape: [values.count], storage: storage)
    }

    /// The elements of an integer tensor, exactly.
    static func values<T: FixedWidthInteger>(_ tensor: Tensor, _: T.Type) -> [T] {
        tensor.withUnsafeBytes { bytes in (0..<tensor.elementCount).map { T(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) } }
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

    static func mismatch(_ reply: WorkerCore.WorkerReply, _ request: Message) -> WireError {
        WireError(.internal, "reply \(reply) does not answer \(request.type)")
    }
}
