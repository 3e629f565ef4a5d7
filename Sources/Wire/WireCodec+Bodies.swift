import CWire

/// Message bodies to and from protobuf-c structs. Every C struct made here points into the
/// encode's `CArena`; every one read here belongs to an unpacked envelope that `decode` frees.
extension WireCodec {
    // MARK: Encoding

    static func setBody(_ body: Body, of envelope: inout Calibrate__Wire__Envelope, arena: CArena) {
        envelope.body_case = Calibrate__Wire__Envelope__BodyCase(rawValue: body.type.rawValue)
        switch body {
        case .hello(let hello): envelope.hello = arena.object(encode(hello, arena))
        case .welcome(let welcome): envelope.welcome = arena.object(encode(welcome, arena))
        case .heartbeat(let heartbeat):
            var m = Calibrate__Wire__Heartbeat()
            calibrate__wire__heartbeat__init(&m)
            m.has_sequence = 1
            m.sequence = heartbeat.sequence
            envelope.heartbeat = arena.object(m)
        case .shutdown(let shutdown):
            var m = Calibrate__Wire__Shutdown()
            calibrate__wire__shutdown__init(&m)
            m.reason = arena.string(shutdown.reason)
            m.has_exit_process = 1
            m.exit_process = shutdown.exitProcess ? 1 : 0
            envelope.shutdown = arena.object(m)
        case .error(let report): envelope.error = arena.object(encode(report, arena))
        case .echo(let echo):
            var m = Calibrate__Wire__Echo()
            calibrate__wire__echo__init(&m)
            m.note = arena.string(echo.note)
            envelope.echo = arena.object(m)
        case .jobSpec(let spec): envelope.job_spec = arena.object(encode(spec, arena))
        case .jobAccepted(let accepted):
            var m = Calibrate__Wire__JobAccepted()
            calibrate__wire__job_accepted__init(&m)
            (m.has_sample_count, m.sample_count) = (1, UInt32(accepted.sampleCount))
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
            (m.has_bytes, m.bytes) = (1, loaded.bytes)
            envelope.layer_loaded = arena.object(m)
        case .captureStats(let capture):
            var m = Calibrate__Wire__CaptureStats()
            calibrate__wire__capture_stats__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(capture.layer))
            (m.has_stage, m.stage) = (1, wire(capture.stage))
            envelope.capture_stats = arena.object(m)
        case .statsReport(let report):
            var m = Calibrate__Wire__StatsReport()
            calibrate__wire__stats_report__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(report.layer))
            (m.has_stage, m.stage) = (1, wire(report.stage))
            (m.has_token_count, m.token_count) = (1, report.tokenCount)
            envelope.stats_report = arena.object(m)
        case .solveRequest(let request): envelope.solve_request = arena.object(encode(request, arena))
        case .solveResult(let result):
            var m = Calibrate__Wire__SolveResult()
            calibrate__wire__solve_result__init(&m)
            (m.has_layer, m.layer) = (1, UInt32(result.layer))
            m.module = arena.string(result.module)
            (m.has_row_begin, m.row_begin) = (1, UInt32(result.rowBegin))
            (m.has_row_end, m.row_end) = (1, UInt32(result.rowEnd))
            (m.has_loss, m.loss) = (1, result.loss)
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
        case .evaluate(let evaluate):
            var m = Calibrate__Wire__Evaluate()
            calibrate__wire__evaluate__init(&m)
            m.kind = arena.string(evaluate.kind)
            if let layer = evaluate.layer { (m.has_layer, m.layer) = (1, UInt32(layer)) }
            if let stage = evaluate.stage { (m.has_stage, m.stage) = (1, wire(stage)) }
            (m.n_parameters, m.parameters) = (evaluate.parameters.count, arena.array(evaluate.parameters))
            envelope.evaluate = arena.object(m)
        case .evaluated(let evaluated):
            var m = Calibrate__Wire__Evaluated()
            calibrate__wire__evaluated__init(&m)
            m.kind = arena.string(evaluated.kind)
            (m.n_values, m.values) = (evaluated.values.count, arena.array(evaluated.values))
            envelope.evaluated = arena.object(m)
        }
    }

    private static func wire(_ stage: Stage) -> Calibrate__Wire__Stage {
        Calibrate__Wire__Stage(rawValue: stage.rawValue)
    }

    private static func encode(_ hello: Hello, _ arena: CArena) -> Calibrate__Wire__Hello {
        var m = Calibrate__Wire__Hello()
        calibrate__wire__hello__init(&m)
        m.coordinator = arena.string(hello.coordinator)
        (m.has_heartbeat_interval_ms, m.heartbeat_interval_ms) = (1, hello.heartbeatIntervalMilliseconds)
        (m.has_heartbeat_timeout_ms, m.heartbeat_timeout_ms) = (1, hello.heartbeatTimeoutMilliseconds)
        return m
    }

    private static func encode(_ welcome: Welcome, _ arena: CArena) -> Calibrate__Wire__Welcome {
        var c = Calibrate__Wire__Capabilities()
        calibrate__wire__capabilities__init(&c)
        let capabilities = welcome.capabilities
        (c.has_cores, c.cores) = (1, UInt32(capabilities.cores))
        (c.has_memory_bytes, c.memory_bytes) = (1, capabilities.memoryBytes)
        c.device_kind = arena.string(capabilities.deviceKind)
        (c.has_threads, c.threads) = (1, UInt32(capabilities.threads))
        c.hostname = arena.string(capabilities.hostname)
        (c.has_pid, c.pid) = (1, UInt32(capabilities.pid))
        var m = Calibrate__Wire__Welcome()
        calibrate__wire__welcome__init(&m)
        m.capabilities = arena.object(c)
        m.worker = arena.string(welcome.worker)
        return m
    }

    private static func encode(_ report: ErrorReport, _ arena: CArena) -> Calibrate__Wire__Error {
        var m = Calibrate__Wire__Error()
        calibrate__wire__error__init(&m)
        (m.has_code, m.code) = (1, Calibrate__Wire__Error__Code(rawValue: report.code.rawValue))
        m.message = arena.string(report.message)
        if let layer = report.layer { (m.has_layer, m.layer) = (1, UInt32(layer)) }
        if let tensor = report.tensor { m.tensor = arena.string(tensor) }
        return m
    }

    private static func encode(_ spec: JobSpec, _ arena: CArena) -> Calibrate__Wire__JobSpec {
        var r = Calibrate__Wire__Recipe()
        calibrate__wire__recipe__init(&r)
        let recipe = spec.recipe
        r.method = arena.string(recipe.method)
        (r.has_bits, r.bits) = (1, UInt32(recipe.bits))
        (r.has_group_size, r.group_size) = (1, Int32(recipe.groupSize))
        (r.has_symmetric, r.symmetric) = (1, recipe.symmetric ? 1 : 0)
        (r.has_act_order, r.act_order) = (1, recipe.actOrder ? 1 : 0)
        (r.has_damp, r.damp) = (1, recipe.damp)
        (r.has_true_sequential, r.true_sequential) = (1, recipe.trueSequential ? 1 : 0)
        var m = Calibrate__Wire__JobSpec()
        calibrate__wire__job_spec__init(&m)
        m.model_path = arena.string(spec.modelPath)
        m.recipe = arena.object(r)
        (m.has_seq_len, m.seq_len) = (1, UInt32(spec.seqLen))
        (m.has_stream_weights, m.stream_weights) = (1, spec.streamWeights ? 1 : 0)
        (m.has_shard_index, m.shard_index) = (1, UInt32(spec.shardIndex))
        (m.has_shard_count, m.shard_count) = (1, UInt32(spec.shardCount))
        (m.has_seed, m.seed) = (1, spec.seed)
        return m
    }

    private static func encode(_ request: SolveRequest, _ arena: CArena) -> Calibrate__Wire__SolveRequest {
        var p = Calibrate__Wire__QuantParams()
        calibrate__wire__quant_params__init(&p)
        let params = request.params
        (p.has_bits, p.bits) = (1, UInt32(params.bits))
        (p.has_group_size, p.group_size) = (1, Int32(params.groupSize))
        (p.has_symmetric, p.symmetric) = (1, params.symmetric ? 1 : 0)
        (p.has_act_order, p.act_order) = (1, params.actOrder ? 1 : 0)
        (p.has_block_size, p.block_size) = (1, UInt32(params.blockSize))
        (p.has_static_groups, p.static_groups) = (1, params.staticGroups ? 1 : 0)
        var m = Calibrate__Wire__SolveRequest()
        calibrate__wire__solve_request__init(&m)
        (m.has_layer, m.layer) = (1, UInt32(request.layer))
        (m.has_stage, m.stage) = (1, wire(request.stage))
        m.module = arena.string(request.module)
        (m.has_row_begin, m.row_begin) = (1, UInt32(request.rowBegin))
        (m.has_row_end, m.row_end) = (1, UInt32(request.rowEnd))
        m.params = arena.object(p)
        return m
    }

    // MARK: Decoding

    static func decodeBody(of envelope: Calibrate__Wire__Envelope, type: MessageType) throws(WireError) -> Body {
        switch type {
        case .hello:
            let m = envelope.hello.pointee
            let interval = try required(m.has_heartbeat_interval_ms, m.heartbeat_interval_ms, "Hello.heartbeat_interval_ms")
            let timeout = try required(m.has_heartbeat_timeout_ms, m.heartbeat_timeout_ms, "Hello.heartbeat_timeout_ms")
            guard interval > 0, timeout >= interval else {
                throw WireError(.malformed, "Hello: heartbeat interval \(interval) ms and timeout \(timeout) ms; expected 0 < interval ≤ timeout")
            }
            return .hello(Hello(coordinator: string(m.coordinator), heartbeatIntervalMilliseconds: interval, heartbeatTimeoutMilliseconds: timeout))
        case .welcome:
            let m = envelope.welcome.pointee
            guard let c = m.capabilities?.pointee else { throw WireError(.malformed, "Welcome.capabilities is missing") }
            let capabilities = Capabilities(
                cores: Int(c.cores), memoryBytes: c.memory_bytes, deviceKind: string(c.device_kind), threads: Int(c.threads),
                hostname: string(c.hostname), pid: Int(c.pid))
            return .welcome(Welcome(capabilities: capabilities, worker: string(m.worker)))
        case .heartbeat:
            return .heartbeat(Heartbeat(sequence: envelope.heartbeat.pointee.sequence))
        case .shutdown:
            let m = envelope.shutdown.pointee
            return .shutdown(Shutdown(reason: string(m.reason), exitProcess: m.has_exit_process != 0 && m.exit_process != 0))
        case .error:
            let m = envelope.error.pointee
            let raw = try required(m.has_code, m.code.rawValue, "Error.code")
            return .error(ErrorReport(
                code: ErrorCode(rawValue: raw) ?? .unspecified, message: string(m.message),
                layer: m.has_layer != 0 ? Int(m.layer) : nil, tensor: m.tensor.map { String(cString: $0) }))
        case .echo:
            return .echo(Echo(note: string(envelope.echo.pointee.note)))
        case .jobSpec:
            return .jobSpec(try decode(envelope.job_spec.pointee))
        case .jobAccepted:
            let m = envelope.job_accepted.pointee
            return .jobAccepted(JobAccepted(sampleCount: Int(try required(m.has_sample_count, m.sample_count, "JobAccepted.sample_count"))))
        case .loadLayer:
            let m = envelope.load_layer.pointee
            return .loadLayer(LoadLayer(layer: Int(try required(m.has_layer, m.layer, "LoadLayer.layer"))))
        case .layerLoaded:
            let m = envelope.layer_loaded.pointee
            return .layerLoaded(LayerLoaded(
                layer: Int(try required(m.has_layer, m.layer, "LayerLoaded.layer")),
                bytes: try required(m.has_bytes, m.bytes, "LayerLoaded.bytes")))
        case .captureStats:
            let m = envelope.capture_stats.pointee
            return .captureStats(CaptureStats(
                layer: Int(try required(m.has_layer, m.layer, "CaptureStats.layer")),
                stage: try requiredStage(m.has_stage, m.stage, "CaptureStats.stage")))
        case .statsReport:
            let m = envelope.stats_report.pointee
            return .statsReport(StatsReport(
                layer: Int(try required(m.has_layer, m.layer, "StatsReport.layer")),
                stage: try requiredStage(m.has_stage, m.stage, "StatsReport.stage"),
                tokenCount: try required(m.has_token_count, m.token_count, "StatsReport.token_count")))
        case .solveRequest:
            return .solveRequest(try decode(envelope.solve_request.pointee))
        case .solveResult:
            let m = envelope.solve_result.pointee
            let result = SolveResult(
                layer: Int(try required(m.has_layer, m.layer, "SolveResult.layer")),
                module: try requiredString(m.module, "SolveResult.module"),
                rowBegin: Int(try required(m.has_row_begin, m.row_begin, "SolveResult.row_begin")),
                rowEnd: Int(try required(m.has_row_end, m.row_end, "SolveResult.row_end")),
                loss: try required(m.has_loss, m.loss, "SolveResult.loss"))
            try checkRows(result.rowBegin, result.rowEnd, "SolveResult")
            return .solveResult(result)
        case .applyLayer:
            let m = envelope.apply_layer.pointee
            return .applyLayer(ApplyLayer(
                layer: Int(try required(m.has_layer, m.layer, "ApplyLayer.layer")),
                stage: try requiredStage(m.has_stage, m.stage, "ApplyLayer.stage")))
        case .applied:
            let m = envelope.applied.pointee
            return .applied(Applied(
                layer: Int(try required(m.has_layer, m.layer, "Applied.layer")),
                stage: try requiredStage(m.has_stage, m.stage, "Applied.stage")))
        case .evaluate:
            let m = envelope.evaluate.pointee
            return .evaluate(Evaluate(
                kind: try requiredString(m.kind, "Evaluate.kind"), layer: m.has_layer != 0 ? Int(m.layer) : nil,
                stage: m.has_stage != 0 ? try requiredStage(m.has_stage, m.stage, "Evaluate.stage") : nil,
                parameters: Array(UnsafeBufferPointer(start: m.parameters, count: m.n_parameters))))
        case .evaluated:
            let m = envelope.evaluated.pointee
            return .evaluated(Evaluated(
                kind: try requiredString(m.kind, "Evaluated.kind"), values: Array(UnsafeBufferPointer(start: m.values, count: m.n_values))))
        }
    }

    private static func decode(_ m: Calibrate__Wire__JobSpec) throws(WireError) -> JobSpec {
        guard let r = m.recipe?.pointee else { throw WireError(.malformed, "JobSpec.recipe is missing") }
        let recipe = RecipeSpec(
            method: try requiredString(r.method, "Recipe.method"),
            bits: Int(try required(r.has_bits, r.bits, "Recipe.bits")),
            groupSize: Int(try required(r.has_group_size, r.group_size, "Recipe.group_size")),
            symmetric: try required(r.has_symmetric, r.symmetric, "Recipe.symmetric") != 0,
            actOrder: try required(r.has_act_order, r.act_order, "Recipe.act_order") != 0,
            damp: try required(r.has_damp, r.damp, "Recipe.damp"),
            trueSequential: r.has_true_sequential == 0 || r.true_sequential != 0)
        let spec = JobSpec(
            modelPath: string(m.model_path), recipe: recipe,
            seqLen: Int(try required(m.has_seq_len, m.seq_len, "JobSpec.seq_len")),
            streamWeights: m.has_stream_weights != 0 && m.stream_weights != 0,
            shardIndex: Int(try required(m.has_shard_index, m.shard_index, "JobSpec.shard_index")),
            shardCount: Int(try required(m.has_shard_count, m.shard_count, "JobSpec.shard_count")),
            seed: m.has_seed != 0 ? m.seed : 0)
        guard spec.shardIndex < spec.shardCount else {
            throw WireError(.malformed, "JobSpec: shard \(spec.shardIndex) of \(spec.shardCount); expected an index below the count")
        }
        return spec
    }

    private static func decode(_ m: Calibrate__Wire__SolveRequest) throws(WireError) -> SolveRequest {
        guard let p = m.params?.pointee else { throw WireError(.malformed, "SolveRequest.params is missing") }
        let params = QuantParams(
            bits: Int(try required(p.has_bits, p.bits, "QuantParams.bits")),
            groupSize: Int(try required(p.has_group_size, p.group_size, "QuantParams.group_size")),
            symmetric: try required(p.has_symmetric, p.symmetric, "QuantParams.symmetric") != 0,
            actOrder: try required(p.has_act_order, p.act_order, "QuantParams.act_order") != 0,
            blockSize: p.has_block_size != 0 ? Int(p.block_size) : 128,
            staticGroups: p.has_static_groups != 0 && p.static_groups != 0)
        let request = SolveRequest(
            layer: Int(try required(m.has_layer, m.layer, "SolveRequest.layer")),
            stage: try requiredStage(m.has_stage, m.stage, "SolveRequest.stage"),
            module: try requiredString(m.module, "SolveRequest.module"),
            rowBegin: Int(try required(m.has_row_begin, m.row_begin, "SolveRequest.row_begin")),
            rowEnd: Int(try required(m.has_row_end, m.row_end, "SolveRequest.row_end")),
            params: params)
        try checkRows(request.rowBegin, request.rowEnd, "SolveRequest")
        return request
    }

    private static func checkRows(_ begin: Int, _ end: Int, _ message: String) throws(WireError) {
        guard begin < end else {
            throw WireError(.malformed, "\(message): rows \(begin)..<\(end); expected row_begin < row_end")
        }
    }
}
