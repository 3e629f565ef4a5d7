import JobProtocol
import Kernels
import Model
import Tensors
import Wire

/// Messages of every type, the wire targets' seeds: one body of each message type with every
/// optional field set, and some without (as `WireTests`' round trips use them), each with small
/// tensors where the message carries them. `WireTests`' round trips use the same bodies.
public enum WireSamples {
    /// The bodies; every `MessageType` appears (a test checks it).
    public static let bodies: [Body] = {
        let capabilities = Capabilities(cores: 64, memoryBytes: 512 << 30, deviceKind: "cpu", threads: 32, hostname: "node-7", pid: 4242)
        // Cannot throw: valid literals.
        let scheme = try! QuantizationScheme(bits: 3, symmetric: false, groupSize: -1, scaleFormat: .bfloat16)
        // Packed sums of several widths and shifts (71 columns: blocks cut mid-row), and a zero row.
        var statistics = ActivationStatistics(columns: 71)
        var inputs = [Float](repeating: 0, count: 3 * 71)
        for i in inputs.indices where i % 71 != 9 {
            let step = Float(i % 13) * 0.37
            inputs[i] = step - 2 + Float(i) * 0.001
        }
        try! statistics.accumulate(inputs, rows: 3, layer: 2, module: "mlp.down_proj")
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
            .request(.loadLayer(index: 3, weights: ["model.layers.3.mlp.up_proj.weight": sample(.bf16, [4, 4]), "model.layers.3.mlp.up_proj.bias": sample(.f32, [4])])),
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
            .reply(.statistics(layer: 2, [statistics])),
            .reply(.solved(layer: 3, [], factor: nil)),
            .reply(.solved(layer: 3, [], factor: FactorReport(dampingPercent: 0.1, dampingRetries: 1, seconds: 0.5))),
            .reply(.applied(layer: 1, stage: .down)),
            .reply(.finished(WorkerSummary(peakResidentBytes: 123 << 20, forwardSeconds: 12.5, statisticsSeconds: 3.25, solveSeconds: 0.5))),
            .reply(.finished(WorkerSummary(peakResidentBytes: 1, forwardSeconds: 0, statisticsSeconds: 0, solveSeconds: 0, blasCore: "SkylakeX", blasThreads: 16))),
            .request(.rewind(layer: 7)),
            .request(.adopt(AdoptedSamples(blocks: [8..<12, 40..<42], sequences: [[1, 2], [3], [4, 5, 6], [7], [8], [9]]))),
            .request(.adopt(AdoptedSamples(blocks: [0..<1], sequences: [[5, 6]], embeddings: Tensor(floats: [1, 2, 3, 4], shape: [2, 2])))),
            .request(.replay(LayerReplay(layer: 4, weights: nil, steps: [
                .fold(LayerFold(mlpInput: [2, 0.5])), .apply(.qkv, [quantized, nil, quantized]), .apply(.o, [nil]),
            ]))),
            .request(.replay(LayerReplay(layer: 0, weights: ["model.layers.0.mlp.up_proj.weight": sample(.bf16, [4, 4])], steps: []))),
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

    /// The frames of each body's message: the envelope, then its tensors (other bodies get two).
    static var messages: [[TensorStorage]] {
        bodies.map { body in
            let isJob = switch body { case .request, .reply: true; default: false }
            let tensors = isJob ? [] : [NamedTensor("w", sample(.bf16, [3, 5])), NamedTensor("s", sample(.f32, [2]))]
            return WireCodec.encode(Message(body, tensors: tensors, jobID: "job", taskID: 9, attempt: 1))
        }
    }

    /// A tensor of `dtype` and `shape` whose bytes count up from `seed`.
    static func sample(_ dtype: DType, _ shape: [Int], seed: UInt8 = 1) -> Tensor {
        let count = shape.reduce(dtype.byteSize, *)
        let storage = TensorStorage(count: count) { buffer in
            for index in 0..<count { buffer[index] = seed &+ UInt8(truncatingIfNeeded: index &* 37) }
        }
        // Cannot throw: the byte count is the shape's.
        return try! Tensor(dtype: dtype, shape: shape, storage: storage)
    }
}
