import ArgumentParser
import Foundation
import Kernels
import Model
import ModelConfiguration

/// Tokens/s of one decoder layer at real model shapes, with random weights made on the fly, next
/// to sgemm's GFLOP/s measured in the same run on the same product shapes.
struct ForwardBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "One decoder layer's forward pass (whole and stage by stage) at 1B and 70B shapes, next to sgemm.")

    enum Shape: String, ExpressibleByArgument, CaseIterable {
        /// Llama-3.2-1B: hidden 2048, 32 heads, 8 kv heads, MLP 8192.
        case llama1B = "1b"
        /// Llama-70B: hidden 8192, 64 heads, 8 kv heads, MLP 28672 (≈ 3.4 GB of float32 weights).
        case llama70B = "70b"

        var config: (hidden: Int, heads: Int, kvHeads: Int, intermediate: Int) {
            switch self {
            case .llama1B: (2048, 32, 8, 8192)
            case .llama70B: (8192, 64, 8, 28672)
            }
        }
    }

    @Option(help: "Shapes to run: 1b, 70b (repeat the option for several).")
    var shape: [Shape] = [.llama1B]

    @Option(help: "Tokens per run (sequences of --seq-len).")
    var tokens = 2048

    @Option(help: "Tokens per sequence.")
    var seqLen = 512

    @Option(help: "Rows per linear product (ExecutionOptions.chunkTokens).")
    var chunkTokens = 512

    @Option(help: "BLAS threads (default: every core).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Repetitions of the whole-layer forward; the fastest is reported.")
    var repetitions = 2

    func validate() throws {
        guard tokens >= seqLen, seqLen >= 1, tokens % seqLen == 0 else {
            throw ValidationError("--tokens must be a positive multiple of --seq-len")
        }
    }

    func run() throws {
        BLAS.setThreadCount(threads)
        print("one decoder layer, \(tokens) tokens in sequences of \(seqLen), products of \(chunkTokens) rows, \(BLAS.threadCount) BLAS threads")
        for shape in shape { try run(shape) }
    }

    private func run(_ shape: Shape) throws {
        let config = try Self.config(shape, maxPositions: seqLen)
        var random = BenchRandom(seed: 42)
        let setup = now()
        let weights = Self.randomLayer(config, &random)
        let batch = try SequenceBatch(lengths: [Int](repeating: seqLen, count: tokens / seqLen))
        var values = Matrix(rows: tokens, columns: config.hiddenSize)
        random.fill(&values.values, scale: 1)
        let executor = try LayerExecutor(config: config, states: HiddenStates(batch: batch, values: values),
                                         options: ExecutionOptions(chunkTokens: chunkTokens))
        print("\n\(shape.rawValue): hidden \(config.hiddenSize), heads \(config.numAttentionHeads)/\(config.numKeyValueHeads), "
              + "MLP \(config.intermediateSize); weights \(format(Double(weights.byteCount) / 1e9)) GB made in \(format(now() - setup, 1)) s; "
              + "workspaces \(format(Double(executor.workspaceBytes) / 1e6, 0)) MB, stage buffer \(format(Double(executor.stageBufferBytes) / 1e6, 0)) MB")

        let sgemm = sgemmReference(weights, rows: min(chunkTokens, tokens))
        print("  sgemm, same shapes (\(min(chunkTokens, tokens)) rows): " + sgemm.shapes.map { "\($0.label) \(format($0.gflops, 1))" }.joined(separator: ", ")
              + " GFLOP/s; weighted as in a layer \(format(sgemm.weighted, 1)) GFLOP/s")

        var best = ExecutionProfile()
        best.totalSeconds = .infinity
        for _ in 0..<repetitions {
            executor.profile = ExecutionProfile()
            try executor.forward(weights)
            if executor.profile.totalSeconds < best.totalSeconds { best = executor.profile }
        }
        report("whole layer", best, sgemm: sgemm.weighted)

        best = ExecutionProfile()
        best.totalSeconds = .infinity
        for _ in 0..<repetitions {
            executor.profile = ExecutionProfile()
            try executor.begin(weights)
            for stage in LayerStage.allCases {
                let width = try executor.withStageInput(stage) { $0.width }
                precondition(width == stage.inputWidth(config))
                try executor.apply(stage)
            }
            if executor.profile.totalSeconds < best.totalSeconds { best = executor.profile }
        }
        report("stage by stage", best, sgemm: sgemm.weighted)
        let checksum = executor.states.values.values[tokens * config.hiddenSize / 2]
        if !checksum.isFinite { print("  warning: the hidden states are not finite (\(checksum))") }
    }

    private func report(_ label: String, _ profile: ExecutionProfile, sgemm: Double) {
        let linear = profile.linearFlops / profile.linearSeconds / 1e9
        let overall = (profile.linearFlops + profile.attentionFlops) / profile.totalSeconds / 1e9
        let other = profile.totalSeconds - profile.linearSeconds - profile.attentionSeconds
        print("  \(pad(label, 15)) \(pad(format(Double(tokens) / profile.totalSeconds, 0) + " tokens/s", 16))"
              + "linears \(format(linear, 1)) GFLOP/s (\(format(100 * linear / sgemm, 0))% of sgemm), "
              + "overall \(format(overall, 1)) GFLOP/s (\(format(100 * overall / sgemm, 0))%); "
              + "time: linears \(format(profile.linearSeconds, 2)) s, attention \(format(profile.attentionSeconds, 2)) s, "
              + "other \(format(other, 2)) s")
    }

    /// sgemm GFLOP/s on the layer's product shapes (rows × out × in, weights transposed as the
    /// layer uses them), and their FLOP-weighted combination: the speed at which sgemm alone
    /// would run the layer's seven linears.
    private func sgemmReference(_ weights: LayerWeights, rows: Int) -> (shapes: [(label: String, gflops: Double)], weighted: Double) {
        let cases: [(String, Matrix, Int)] = [("q/o", weights.q.weight, 2), ("k/v", weights.k.weight, 2),
                                             ("gate/up", weights.gate.weight, 2), ("down", weights.down.weight, 1)]
        let widest = cases.map { max($0.1.rows, $0.1.columns) }.max()!
        var input = [Float](repeating: 0, count: rows * widest)
        var random = BenchRandom(seed: 7)
        random.fill(&input, scale: 1)
        var output = [Float](repeating: 0, count: rows * widest)
        var results: [(String, Double)] = []
        var (flops, seconds) = (0.0, 0.0)
        for (label, w, count) in cases {
            let (n, k) = (w.rows, w.columns)
            let time = fastest(of: 3) { r in
                input[r] += 1
                input.withUnsafeBufferPointer { a in
                    w.values.withUnsafeBufferPointer { b in
                        output.withUnsafeMutableBufferPointer { c in
                            BLAS.sgemm(transposeB: true, m: rows, n: n, k: k, a: a.baseAddress!, lda: k,
                                       b: b.baseAddress!, ldb: k, c: c.baseAddress!, ldc: n)
                        }
                    }
                }
            }
            let work = 2 * Double(rows) * Double(n) * Double(k)
            results.append((label, work / time / 1e9))
            flops += Double(count) * work
            seconds += Double(count) * time
        }
        if output[rows * widest / 3].isNaN { print("") }
        return (results, flops / seconds / 1e9)
    }

    static func config(_ shape: Shape, maxPositions: Int) throws -> ModelConfig {
        let c = shape.config
        let json = """
            {"model_type": "llama", "vocab_size": 128256, "hidden_size": \(c.hidden), "intermediate_size": \(c.intermediate),
             "num_hidden_layers": 1, "num_attention_heads": \(c.heads), "num_key_value_heads": \(c.kvHeads),
             "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": \(max(maxPositions, 8192))}
            """
        return try ModelConfig(parsing: Data(json.utf8), file: "<\(shape.rawValue) benchmark shape>")
    }

    /// Uniform random weights of variance 1/inFeatures (activations keep their scale).
    static func randomLayer(_ config: ModelConfig, _ random: inout BenchRandom) -> LayerWeights {
        func linear(_ rows: Int, _ columns: Int) -> Linear {
            var matrix = Matrix(rows: rows, columns: columns)
            random.fill(&matrix.values, scale: 1 / Float(columns).squareRoot())
            return Linear(weight: matrix)
        }
        let (h, q, kv, i) = (config.hiddenSize, config.queryWidth, config.keyValueWidth, config.intermediateSize)
        return LayerWeights(index: 0, inputNorm: [Float](repeating: 1, count: h), q: linear(q, h), k: linear(kv, h), v: linear(kv, h),
                            o: linear(h, q), postAttentionNorm: [Float](repeating: 1, count: h),
                            gate: linear(i, h), up: linear(i, h), down: linear(h, i))
    }
}

/// A fast deterministic generator (xorshift64*) for benchmark data.
struct BenchRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    /// Fills `values` with uniform values of variance scale² (on ±√3·scale).
    mutating func fill(_ values: inout [Float], scale: Float) {
        let factor = scale * 3.0.squareRoot().float / Float(1 << 23)
        values.withUnsafeMutableBufferPointer { buffer in
            for index in buffer.indices {
                state ^= state >> 12
                state ^= state << 25
                state ^= state >> 27
                let bits = (state &* 0x2545_F491_4F6C_DD1D) >> 40
                buffer[index] = (Float(bits) - Float(1 << 23)) * factor
            }
        }
    }
}

private extension Double {
    var float: Float { Float(self) }
}
