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
        case .request(let request): setBody(request, of: &envelope, arena: arena)
        case .reply(let reply): setBody(reply, of: &envelope, arena: arena)
        case .evaluate(let evaluate):
            var m = Calibrate__Wire__Evaluate()
            calibrate__wire__evaluate__init(&m)
            m.kind = arena.string(evaluate.kind)
            if let layer = evaluate.layer { (m.has_layer, m.layer) = (1, UInt32(layer)) }
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

    // MARK: Decoding

    static func decodeBody(of envelope: Calibrate__Wire__Envelope, type: MessageType, tensors: [NamedTensor]) throws(WireError) -> Body {
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
        case .jobSpec, .loadLayer, .captureStats, .fold, .scaleSearch, .solveRequest, .applyLayer, .finishJob,
             .rewind, .adopt, .replayLayer, .mergeAdopted, .release:
            return .request(try decodeRequest(of: envelope, type: type, jobID: string(envelope.job_id), frames: tensors))
        case .jobAccepted, .layerLoaded, .folded, .scaleLosses, .statsReport, .solveResult, .applied, .jobSummary,
             .rewound, .adopted, .layerReplayed, .merged, .released:
            return .reply(try decodeReply(of: envelope, type: type, frames: tensors))
        case .evaluate:
            let m = envelope.evaluate.pointee
            return .evaluate(Evaluate(
                kind: try requiredString(m.kind, "Evaluate.kind"), layer: m.has_layer != 0 ? Int(m.layer) : nil,
                parameters: Array(UnsafeBufferPointer(start: m.parameters, count: m.n_parameters))))
        case .evaluated:
            let m = envelope.evaluated.pointee
            return .evaluated(Evaluated(
                kind: try requiredString(m.kind, "Evaluated.kind"), values: Array(UnsafeBufferPointer(start: m.values, count: m.n_values))))
        }
    }
}
