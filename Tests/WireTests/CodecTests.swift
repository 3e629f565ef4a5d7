import Tensors
import Testing
@testable import Wire

@Suite("Wire codec round trips")
struct CodecTests {
    /// One body of every message type, with every optional field set, and some without.
    static let bodies: [Body] = {
        let capabilities = Capabilities(cores: 64, memoryBytes: 512 << 30, deviceKind: "cpu", threads: 32, hostname: "node-7", pid: 4242)
        let scheme = QuantScheme(bits: 3, symmetric: false, groupSize: -1, scaleFormat: "bfloat16")
        let options = SolveOptionsSpec(scheme: scheme, staticGroups: true, blockSize: 64, rowTile: 256, clipGrid: 100, clipMaxShrink: 0.8)
        let pieces = [SolvePieceSpec(linear: 2, rowBegin: 256, rowEnd: 1024, clip: true), SolvePieceSpec(linear: 0, rowBegin: 0, rowEnd: 7, clip: false)]
        return [
            .hello(Hello(coordinator: "coordinator@head pid 1", heartbeatIntervalMilliseconds: 1000, heartbeatTimeoutMilliseconds: 5000)),
            .welcome(Welcome(capabilities: capabilities, worker: "tcp://0.0.0.0:5555")),
            .heartbeat(Heartbeat(sequence: 1 << 40)),
            .shutdown(Shutdown(reason: "job finished", exitProcess: true)),
            .shutdown(Shutdown(reason: "", exitProcess: false)),
            .error(ErrorReport(code: .numerical, message: "Cholesky failed", layer: 0, tensor: "model.layers.0.mlp.down_proj.weight")),
            .error(ErrorReport(code: .busy, message: "serving another coordinator")),
            .echo(Echo(note: "ping 3")),
            .jobSpec(JobSpec(modelPath: "/models/llama", firstSample: 43, threads: 16, trueSequential: false, statisticsBlock: 4)),
            .jobSpec(JobSpec(modelPath: nil, firstSample: 0, threads: 0, trueSequential: true, statisticsBlock: 1)),
            .jobAccepted(JobAccepted(tokenCount: 1 << 33)),
            .loadLayer(LoadLayer(layer: 0)),
            .layerLoaded(LayerLoaded(layer: 79)),
            .captureStats(CaptureStats(layer: 5, stages: [.gateUp])),
            .captureStats(CaptureStats(layer: 5, stages: Stage.allCases)),
            .statsReport(StatsReport(layer: 5, stageCount: 4)),
            .fold(Fold(layer: 3)),
            .folded(Folded(layer: 3)),
            .scaleSearch(ScaleSearchRequest(layer: 2, group: .mlpInput, scheme: QuantScheme(bits: 4, symmetric: true, groupSize: 128, scaleFormat: "float16"))),
            .scaleSearch(ScaleSearchRequest(layer: 3, group: .mlpOutput, scheme: QuantScheme(bits: 4, symmetric: false, groupSize: 64, scaleFormat: "bfloat16"),
                                            rows: [0..<64, 128..<200])),
            .scaleLosses(ScaleLossesReport(elements: 1 << 40)),
            .solveRequest(SolveRequest(layer: 3, stage: .o, method: .gptq, options: options, pieces: pieces)),
            .solveRequest(SolveRequest(layer: 3, stage: .qkv, method: .rtn, options: SolveOptionsSpec(scheme: scheme, staticGroups: false, blockSize: 128, rowTile: 1), pieces: [])),
            .solveResult(SolveResult(layer: 3, pieces: pieces)),
            .applyLayer(ApplyLayer(layer: 1, stage: .qkv)),
            .applied(Applied(layer: 1, stage: .qkv)),
            .finishJob(FinishJob()),
            .jobSummary(JobSummary(peakResidentBytes: 123 << 20, forwardSeconds: 12.5, statisticsSeconds: 3.25, solveSeconds: 0.5)),
            .evaluate(Evaluate(kind: "awq_loss_grid", layer: 2, stage: .gateUp, parameters: [0, 0.05, 0.1, -1e300])),
            .evaluate(Evaluate(kind: "sum")),
            .evaluated(Evaluated(kind: "awq_loss_grid", values: [1.5, 2.5, .infinity])),
        ]
    }()

    @Test("every message type survives encode → decode", arguments: bodies)
    func roundTrip(_ body: Body) throws {
        let message = Message(body, jobID: "job-7", taskID: 123_456_789_012, attempt: 3)
        let decoded = try WireCodec.decode(WireCodec.encode(message))
        #expect(decoded.body == body)
        #expect(decoded.type == body.type)
        #expect(decoded.jobID == "job-7")
        #expect(decoded.taskID == 123_456_789_012)
        #expect(decoded.attempt == 3)
        #expect(decoded.protocolVersion == WireProtocol.version)
        #expect(decoded.tensors.isEmpty)
    }

    @Test("every message type is covered by the round trips")
    func coverage() {
        #expect(Set(Self.bodies.map(\.type)) == Set(MessageType.allCases))
    }

    @Test("tensors travel as their own storage, with names, dtypes, shapes and bytes intact")
    func tensors() throws {
        let tensors = [
            NamedTensor("hinv", sampleTensor(.f32, [7, 7], seed: 1)),
            NamedTensor("weight", sampleTensor(.bf16, [3, 7], seed: 2)),
            NamedTensor("perm", sampleTensor(.i64, [7], seed: 3)),
            NamedTensor("scalar", sampleTensor(.f16, [], seed: 4)),
            NamedTensor("empty", sampleTensor(.u8, [0, 5], seed: 5)),
            NamedTensor("mask", sampleTensor(.bool, [33], seed: 6)),
        ]
        let message = Message(.echo(Echo()), tensors: tensors)
        let frames = WireCodec.encode(message)
        #expect(frames.count == tensors.count + 1)
        for (index, named) in tensors.enumerated() {
            #expect(frames[index + 1] === named.tensor.storage, "frame \(index + 1) is a copy")
        }
        let decoded = try WireCodec.decode(frames)
        #expect(decoded.tensors.map(\.name) == tensors.map(\.name))
        for (got, sent) in zip(decoded.tensors, tensors) {
            #expect(got.tensor.dtype == sent.tensor.dtype)
            #expect(got.tensor.shape == sent.tensor.shape)
            #expect(got.checksum == sent.checksum)
            #expect(bytes(of: got.tensor.storage) == bytes(of: sent.tensor.storage))
        }
        #expect(try decoded.requireTensor(named: "perm").shape == [7])
        #expect(throws: WireError.self) { try decoded.requireTensor(named: "codes") }
    }

    @Test("Hello, Welcome and Error of another version decode, so a mismatch can be reported")
    func versionIndependentTypes() throws {
        for body in Self.bodies where WireProtocol.versionIndependentTypes.contains(body.type) {
            let message = Message(body, protocolVersion: WireProtocol.version + 1)
            let decoded = try WireCodec.decode(WireCodec.encode(message))
            #expect(decoded.protocolVersion == WireProtocol.version + 1)
            #expect(decoded.body == body)
        }
    }

    @Test("the tensors' dtype enum matches calibrate.proto's for every type")
    func dtypes() {
        for dtype in DType.allCases {
            #expect(DType(wireValue: dtype.wireValue) == dtype)
        }
        #expect(Set(DType.allCases.map(\.wireValue)).count == DType.allCases.count)
        #expect(DType(wireValue: 0) == nil)
        #expect(DType(wireValue: 12) == .f64)
        #expect(DType(wireValue: 13) == nil)
    }
}
