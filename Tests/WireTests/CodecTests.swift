import JobProtocol
import Kernels
import Model
import Tensors
import Testing
@testable import Wire

@Suite("Wire codec round trips")
struct CodecTests {
    /// One body of every message type, with every optional field set, and some without. The job
    /// values carry small tensors; JobOverWireTests round-trips every request and reply of real
    /// jobs (GPTQ factors, statistics, quantized weights).
    static let bodies: [Body] = {
        let capabilities = Capabilities(cores: 64, memoryBytes: 512 << 30, deviceKind: "cpu", threads: 32, hostname: "node-7", pid: 4242)
        // Cannot throw: valid literals.
        let scheme = try! QuantizationScheme(bits: 3, symmetric: false, groupSize: -1, scaleFormat: .bfloat16)
        let scheme16 = try! QuantizationScheme(bits: 4, symmetric: true, groupSize: 128, scaleFormat: .float16)
        let clipping = try! ClippingSearch(grid: 100, maxShrink: 0.75)
        let job = WorkerJob(jobID: "job-7", modelPath: "/models/llama", configJSON: Array(#"{"hidden_size": 4}"#.utf8),
                            sequences: [[1, 2, 3], [4, 5]], firstSample: 43, threads: 16, trueSequential: false, statisticsBlock: 4)
        let streamed = WorkerJob(jobID: "job-7", modelPath: nil, configJSON: [], sequences: [[7]], firstSample: 0)
        let pieces = [SolveTask.Piece(linear: 2, rows: 256..<1024, clip: true), SolveTask.Piece(linear: 0, rows: 0..<7)]
        let quantized = try! QuantizedWeights(scheme: scheme, rows: 2, columns: 3, codes: [0, 1, 2, 3, -1, -4], scales: [0.5, 0.25],
                                              zeroPoints: [1, -2], groupIndex: [0, 0, 0])
        return [
            .hello(Hello(coordinator: "coordinator@head pid 1", heartbeatIntervalMilliseconds: 1000, heartbeatTimeoutMilliseconds: 5000)),
            .welcome(Welcome(capabilities: capabilities, worker: "tcp://0.0.0.0:5555")),
            .heartbeat(Heartbeat(sequence: 1 << 40)),
            .shutdown(Shutdown(reason: "job finished", exitProcess: true)),
            .shutdown(Shutdown(reason: "", exitProcess: false)),
            .error(ErrorReport(code: .numerical, message: "Cholesky failed", layer: 0, tensor: "model.layers.0.mlp.down_proj.weight")),
            .error(ErrorReport(code: .busy, message: "serving another coordinator")),
            .echo(Echo(note: "ping 3")),
            .request(.start(job, embeddings: nil)),
            .request(.start(streamed, embeddings: Tensor(floats: [1, 2, 3, 4], shape: [1, 4]))),
            .request(.loadLayer(index: 0, weights: nil)),
            .request(.loadLayer(index: 3, weights: ["model.layers.3.mlp.up_proj.weight": sampleTensor(.bf16, [4, 4]), "model.layers.3.mlp.up_proj.bias": sampleTensor(.f32, [4])])),
            .request(.capture(layer: 5, stages: [.gateUp])),
            .request(.capture(layer: 5, stages: LayerStage.allCases)),
            .request(.fold(layer: 3, LayerFold(attentionInput: [1, 2], mlpOutput: [0.5, 4]))),
            .request(.evaluateScales(ScaleSearch(layer: 2, group: .mlpInput, candidates: [[1, 2], [3, 4]], scheme: scheme16))),
            .request(.evaluateScales(ScaleSearch(layer: 3, group: .mlpOutput, candidates: [[1, 2]], scheme: scheme, rows: [0..<64, 128..<200],
                                                 gram: Tensor(doubles: [1, 0.5, 0.5, 2], shape: [2, 2])))),
            .request(.solve(SolveTask(layer: 3, stage: .o, method: .rtn,
                                      options: GPTQSolveOptions(scheme: scheme, staticGroups: true, blockSize: 64, rowTile: 256, clipping: clipping),
                                      factor: nil, hessian: [2, 0, 0, 2], pieces: pieces))),
            .request(.solve(SolveTask(layer: 3, stage: .qkv, method: .gptq, options: GPTQSolveOptions(scheme: scheme16, rowTile: 1),
                                      factor: nil, hessian: nil, pieces: []))),
            .request(.apply(layer: 1, stage: .qkv, weights: [nil, nil, nil])),
            .request(.finish),
            .reply(.started(tokens: 1 << 33)),
            .reply(.loaded(layer: 79)),
            .reply(.folded(layer: 3)),
            .reply(.losses(ScaleLosses(sums: [0, -1, Int128(1) << 100, -(Int128(3) << 90)], elements: 1 << 40))),
            .reply(.statistics(layer: 5, [])),
            .reply(.solved(layer: 3, [])),
            .reply(.applied(layer: 1, stage: .down)),
            .reply(.finished(WorkerSummary(peakResidentBytes: 123 << 20, forwardSeconds: 12.5, statisticsSeconds: 3.25, solveSeconds: 0.5))),
            .reply(.finished(WorkerSummary(peakResidentBytes: 1, forwardSeconds: 0, statisticsSeconds: 0, solveSeconds: 0, blasCore: "SkylakeX", blasThreads: 16))),
            .request(.rewind(layer: 7)),
            .request(.adopt(AdoptedSamples(blocks: [8..<12, 40..<42], sequences: [[1, 2], [3], [4, 5, 6], [7], [8], [9]]))),
            .request(.adopt(AdoptedSamples(blocks: [0..<1], sequences: [[5, 6]], embeddings: Tensor(floats: [1, 2, 3, 4], shape: [2, 2])))),
            .request(.replay(LayerReplay(layer: 4, weights: nil, steps: [
                .fold(LayerFold(mlpInput: [2, 0.5])), .apply(.qkv, [quantized, nil, quantized]), .apply(.o, [nil]),
            ]))),
            .request(.replay(LayerReplay(layer: 0, weights: ["model.layers.0.mlp.up_proj.weight": sampleTensor(.bf16, [4, 4])], steps: []))),
            .request(.mergeAdopted),
            .request(.adopt(AdoptedSamples(blocks: [4..<6], sequences: [[5, 6], [7]], states: Tensor(floats: [1, 2, 3, 4, 5, 6], shape: [3, 2])))),
            .request(.release(blocks: [0..<4, 12..<13], states: true)),
            .request(.release(blocks: [8..<10], states: false)),
            .reply(.released(tokens: 3, states: Tensor(floats: [1, 2, 3, -4, 5, 6], shape: [3, 2]))),
            .reply(.released(tokens: 1 << 33, states: nil)),
            .reply(.rewound(layer: 7)),
            .reply(.adopted(tokens: 1 << 34)),
            .reply(.replayed(layer: 4)),
            .reply(.merged(tokens: 9)),
            .evaluate(Evaluate(kind: "awq_loss_grid", layer: 2, parameters: [0, 0.05, 0.1, -1e300])),
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
        #expect(decoded.tensors.map(\.name) == message.tensors.map(\.name))
        #expect(decoded.tensors.map(\.tensor) == message.tensors.map(\.tensor))
    }

    @Test("a job's id is the envelope's: a decoded start carries it")
    func jobID() throws {
        guard case .request(.start(let job, _)) = Self.bodies.first(where: { $0.type == .jobSpec }) else { return }
        let decoded = try WireCodec.decode(WireCodec.encode(Message(.request(.start(job, embeddings: nil)), jobID: "job-42")))
        guard case .request(.start(let received, _)) = decoded.body else {
            Issue.record("decoded \(decoded.type)")
            return
        }
        #expect(received.jobID == "job-42")
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
