import ArgumentParser
import Checkpoint
import Foundation
import JobProtocol
import Kernels
import Model
import ModelConfiguration
import Tensors
import WorkerCore

/// AWQ's scale search on one worker: wall time per scaling group, split into building the
/// candidates' quantized weights and the candidate forwards, with one block forward as the unit
/// ("a small multiple of one block forward per candidate", the issue's aim).
struct AWQBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "awq",
        abstract: "AWQ scale search per layer: candidate weights vs candidate forwards, in units of one block forward.")

    @Option(help: "A model directory (layer 0 is searched); without it, random weights of --shape.")
    var model: String?

    @Option(help: "Random-weight shape when no --model: 1b or 70b.")
    var shape: ForwardBench.Shape = .llama70B

    @Option(help: "Sequences.")
    var samples = 4

    @Option(help: "Tokens per sequence.")
    var seqLen = 512

    @Option(help: "Ratios per group.")
    var grid = 20

    @Option(help: "Quantization group size (must divide the widths).")
    var groupSize = 64

    @Flag(help: "Time only the up→down group (both loss forms), not q/k/v and gate/up.")
    var outputGroupOnly = false

    @Option(help: "down_proj rows timed for the up→down group (a multiple of 64); the cost is linear in rows, so the time for all rows is extrapolated.")
    var outputRows = 512

    func run() throws {
        BLAS.setThreadCount(ProcessInfo.processInfo.activeProcessorCount)
        var random = BenchRandom(seed: 11)
        let config: ModelConfig
        var streamed: [String: Tensor]?
        var embeddings: Tensor?
        let tokens = samples * seqLen
        if let model {
            config = try ModelConfig(directory: model)
        } else {
            config = try ForwardBench.config(shape, maxPositions: seqLen)
            let layer = ForwardBench.randomLayer(config, &random)
            streamed = Self.tensors(layer)
            var values = [Float](repeating: 0, count: tokens * config.hiddenSize)
            random.fill(&values, scale: 1)
            embeddings = Tensor(floats: values, shape: [tokens, config.hiddenSize])
        }
        let configJSON = try Self.configJSON(config)
        let sequences = (0..<samples).map { s in (0..<seqLen).map { Int32(($0 * 7 + s * 13) % config.vocabSize) } }
        let worker = CalibrationWorker()
        _ = try worker.handle(.start(WorkerJob(jobID: "bench", modelPath: model, configJSON: configJSON, sequences: sequences,
                                               firstSample: 0, trueSequential: false), embeddings: embeddings))
        _ = try worker.handle(.loadLayer(index: 0, weights: streamed))
        var weights: LayerWeights? = try streamed.map { try CheckpointWeightSource(config: config, store: InMemoryTensorStore($0, label: "bench")).layer(0) }
            ?? CheckpointWeightSource(directory: model!).layer(0)
        streamed = nil  // the worker holds its copy; at 70B shapes every copy is 3.2 GiB
        let start = Date()
        guard case .statistics(_, var statistics) = try worker.handle(.capture(layer: 0, stages: LayerStage.allCases)) else { return }
        let captureSeconds = Date().timeIntervalSince(start)
        let scheme = try QuantizationScheme(bits: 4, symmetric: false, groupSize: groupSize)
        print("AWQ search, layer 0 of \(model ?? shape.rawValue + " (random)"): \(samples) × \(seqLen) tokens, grid \(grid), 4-bit asym g\(groupSize)")
        print("  capture (one forward of the layer + XᵀX of its inputs): \(format(captureSeconds, 2)) s")
        for (group, stage) in outputGroupOnly ? [] : [(ScaleSearch.Group.attentionInput, LayerStage.qkv), (.mlpInput, .gateUp)] {
            let linears = weights!.linears(of: stage).map(\.weight)
            let xMean = statistics[stage.rawValue].meanAbs
            let wMean = AWQ.weightMean(linears, groupLength: groupSize)
            let candidates = AWQ.ratios(grid: grid).map { AWQ.scales(activationMean: xMean, weightMean: wMean, ratio: $0) }
            let quantizing = Date()
            for scales in candidates { for w in linears { _ = try AWQ.candidate(w, scales: scales, scheme: scheme) } }
            let quantizeSeconds = Date().timeIntervalSince(quantizing)
            let one = try time { _ = try worker.handle(.evaluateScales(ScaleSearch(layer: 0, group: group, candidates: [candidates[0]], scheme: scheme))) }
            let all = try time { _ = try worker.handle(.evaluateScales(ScaleSearch(layer: 0, group: group, candidates: candidates, scheme: scheme))) }
            // all = reference + N·(candidate weights + forward); one = reference + 1·(…).
            let perCandidate = (all - one) / Double(grid - 1)
            let block = max(one - perCandidate, 1e-9)
            let forwardPerCandidate = perCandidate - quantizeSeconds / Double(grid)
            print("  \(group.rawValue): \(format(all, 2)) s for \(grid) candidates = \(format(all / block, 1)) block forwards; "
                  + "per candidate \(format(forwardPerCandidate / block, 2)) forwards + weights \(format(quantizeSeconds / Double(grid), 3)) s; "
                  + "forwards \(format(100 * forwardPerCandidate * Double(grid) / all, 0)) % of the time, weights \(format(100 * quantizeSeconds / all, 0)) %")
        }
        let (rows, columns) = (weights!.down.weight.rows, weights!.down.weight.columns)
        let down = statistics[LayerStage.down.rawValue]
        let candidates = AWQ.ratios(grid: grid).map {
            AWQ.scales(activationMean: down.meanAbs, weightMean: AWQ.weightMean([weights!.down.weight], groupLength: groupSize), ratio: $0)
        }
        // The same group on this worker's samples (the form `--awq-output-loss auto` picks while
        // the job's tokens ≤ K): down_proj's input computed once, then X·(C − W)ᵀ per candidate.
        let oneOnSamples = try time {
            _ = try worker.handle(.evaluateScales(ScaleSearch(layer: 0, group: .mlpOutput, candidates: [candidates[0]], scheme: scheme)))
        }
        let allOnSamples = try time {
            _ = try worker.handle(.evaluateScales(ScaleSearch(layer: 0, group: .mlpOutput, candidates: candidates, scheme: scheme)))
        }
        let perSampleCandidate = (allOnSamples - oneOnSamples) / Double(max(grid - 1, 1))
        let sampleFlops = 2 * Double(tokens) * Double(rows) * Double(columns)
        print("  mlpOutput on the samples: \(format(allOnSamples, 2)) s for \(grid) candidates; down_proj's input once \(format(oneOnSamples - perSampleCandidate, 2)) s, "
              + "per candidate \(format(perSampleCandidate, 2)) s (X·(C − W)ᵀ at \(format(sampleFlops / perSampleCandidate / 1e9, 1)) GFLOP/s, candidate weights included)")
        // Keep only what the up→down search needs: at 70B shapes XᵀX of down_proj's input alone
        // is 6.1 GiB in F64, and the gram frame another 6.1 GiB.
        (weights, statistics) = (nil, [])
        let gram = down.gramTensor()
        let timed = min(rows, max(AWQ.errorRowTile, outputRows / AWQ.errorRowTile * AWQ.errorRowTile))
        // One candidate on `timed` rows: every candidate costs the same dgemms (rows·K² multiply–adds),
        // linear in the rows; with W workers each takes ≈ 1/W of the rows.
        let one = try time {
            _ = try worker.handle(.evaluateScales(ScaleSearch(layer: 0, group: .mlpOutput, candidates: [candidates[0]], scheme: scheme,
                                                              rows: [0..<timed], gram: gram)))
        }
        let perCandidate = one * Double(rows) / Double(timed)
        let dgemm = measuredDgemmRate(m: AWQ.errorRowTile, k: columns)
        let flops = 2 * Double(timed) * Double(columns) * Double(columns)
        print("  mlpOutput from XᵀX (rows spread over workers): \(format(one, 2)) s for one candidate on \(timed) of \(rows) rows "
              + "(\(format(flops / one / 1e9, 1)) GFLOP/s in dgemm terms; dgemm (\(AWQ.errorRowTile)×\(columns))·(\(columns)×\(columns)) alone: \(format(dgemm, 1)) GFLOP/s) → \(format(perCandidate, 2)) s per candidate on all rows, "
              + "≈ \(format(perCandidate * Double(grid), 1)) s for \(grid) candidates, divided by the workers")
    }

    private func time(_ body: () throws -> Void) throws -> Double {
        let start = Date()
        try body()
        return Date().timeIntervalSince(start)
    }

    static func tensors(_ layer: LayerWeights) -> [String: Tensor] {
        var tensors: [String: Tensor] = [
            "model.layers.0.input_layernorm.weight": Tensor(floats: layer.inputNorm, shape: [layer.inputNorm.count]),
            "model.layers.0.post_attention_layernorm.weight": Tensor(floats: layer.postAttentionNorm, shape: [layer.postAttentionNorm.count]),
        ]
        for stage in LayerStage.allCases {
            for (name, linear) in zip(stage.linearNames, layer.linears(of: stage)) {
                tensors["model.layers.0.\(name).weight"] = Tensor(floats: linear.weight.values, shape: [linear.weight.rows, linear.weight.columns])
            }
        }
        return tensors
    }

    static func configJSON(_ config: ModelConfig) throws -> [UInt8] {
        let object: [String: Any] = [
            "model_type": config.modelType.rawValue, "vocab_size": config.vocabSize, "hidden_size": config.hiddenSize,
            "intermediate_size": config.intermediateSize, "num_hidden_layers": config.numHiddenLayers,
            "num_attention_heads": config.numAttentionHeads, "num_key_value_heads": config.numKeyValueHeads, "head_dim": config.headDim,
            "rms_norm_eps": config.rmsNormEps, "rope_theta": config.ropeTheta, "max_position_embeddings": config.maxPositionEmbeddings,
            "tie_word_embeddings": config.tieWordEmbeddings,
        ]
        return [UInt8](try JSONSerialization.data(withJSONObject: object))
    }
}
