import ArgumentParser
import Foundation
import Kernels
import Model
import ModelConfiguration

/// Peak memory of the layer-streaming runner on a real checkpoint, next to what it holds:
/// hidden states, the largest float32 layer, the executor's workspaces.
struct StreamingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streaming",
        abstract: "Peak RSS of LayerStreamingRunner over a checkpoint, next to hidden states + one layer.")

    @Option(help: "Model directory (config.json plus safetensors).")
    var model: String

    @Option(help: "Sequences (random token ids, fixed seed).")
    var sequences = 8

    @Option(help: "Tokens per sequence.")
    var seqLen = 1024

    @Option(help: "BLAS threads (default: every core).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        BLAS.setThreadCount(threads)
        let mib = { (bytes: Int) in format(Double(bytes) / 1_048_576, 1) + " MiB" }
        let rss = { ProcessMemory.residentBytes ?? 0 }
        let start = (rss(), ProcessMemory.peakResidentBytes ?? 0)
        let source = try CheckpointWeightSource(directory: model)
        let vocabulary = UInt64(source.config.vocabSize)
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        let tokens: [ArraySlice<Int32>] = (0..<sequences).map { _ in
            ArraySlice((0..<seqLen).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Int32((state >> 33) % vocabulary)
            })
        }
        let began = now()
        let runner = try LayerStreamingRunner(source: source, sequences: tokens)
        let hidden = runner.states.byteCount
        print("\(model): \(source.config.numHiddenLayers) layers; \(sequences) × \(seqLen) tokens; \(threads) BLAS threads")
        print("  process before: RSS \(mib(start.0)), peak \(mib(start.1)); after embedding: RSS \(mib(rss()))")
        for layer in 0..<source.config.numHiddenLayers {
            try runner.run(through: layer + 1)
            print("  after layer \(layer): RSS \(mib(rss())), peak \(mib(ProcessMemory.peakResidentBytes ?? 0))")
        }
        let peak = ProcessMemory.peakResidentBytes ?? 0
        let held = hidden + runner.largestLayerBytes + runner.executor.workspaceBytes
        print("  hidden states \(mib(hidden)) + largest layer (f32) \(mib(runner.largestLayerBytes)) + workspaces \(mib(runner.executor.workspaceBytes)) = \(mib(held))")
        print("  peak RSS \(mib(peak)) = that + \(mib(peak - held)) (process, BLAS buffers, pages of the tensor being read); "
              + "\(format(now() - began, 1)) s, \(format(runner.executor.profile.linearFlops / runner.executor.profile.linearSeconds / 1e9, 1)) GFLOP/s on the linears")
    }
}
