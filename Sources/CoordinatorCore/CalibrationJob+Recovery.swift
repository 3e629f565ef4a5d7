import Checkpoint
import Formats
import Foundation
import JobProtocol
import Kernels
import Model
import Tensors

/// What a completed layer did to the workers' hidden states, as the coordinator keeps it: the
/// folds (small) and which modules each apply replaced. The quantized weights themselves are read
/// back from the checkpoint being written when a layer is replayed, so the coordinator holds no
/// copy of the quantized model.
enum ReplayEvent {
    case fold(LayerFold)
    /// Per linear of the stage: its module name when quantized (weights in the output), nil when kept.
    case apply(LayerStage, modules: [String?])
}

/// Workers were lost during a broadcast; the job recovers (`recover(layer:)`) and redoes the layer.
struct WorkersLost: Error {
    var workers: [Int]
}

/// Surviving lost workers (docs/ARCHITECTURE.md, "Lost workers"): a lost worker's samples —
/// whole statistics blocks — are dealt out to the survivors, which rebuild their hidden states by
/// replaying the completed layers from the embeddings; every survivor then rewinds to the input
/// of the interrupted layer, and the layer is done again from its start. Statistics are exact sums
/// over the same blocks and every sequence's rows depend on that sequence alone, so the
/// checkpoint is the same bytes as without the loss.
extension CalibrationJob {
    /// Drops worker `index` from the job: its samples wait for a survivor.
    func markLost(_ index: Int, _ error: WorkerLost) {
        guard alive[index] else { return }
        alive[index] = false
        let held = blocks[index]
        orphaned += held
        blocks[index] = []
        let samples = held.reduce(0) { $0 + $1.count }
        let (layer, phase) = currentPhase
        losses.append(JobReport.Loss(worker: workers[index].address, layer: layer, phase: phase, at: Date().timeIntervalSince(startTime),
                                     reason: error.reason, samples: samples))
        progress?.log("worker \(workers[index].address) lost during layer \(layer) \(phase): \(error.reason); its \(samples) sample(s) go to the other workers")
    }

    /// Gives every orphaned sample to a live worker, with hidden states at the input of `layer`,
    /// and rewinds every live worker to that input. Losses on the way start it over.
    /// - Throws: `JobError` when fewer than `minWorkers` workers are left, or a worker fails.
    func recover(layer: Int) async throws {
        let started = Date()
        let traffic = await trafficTotal()
        var given: [Int: Int] = [:]
        while true {
            let live = liveWorkers
            guard live.count >= inputs.minWorkers else {
                let lost = workers.indices.filter { !alive[$0] && !failedJoins.contains($0) && !departed.contains($0) }.map { workers[$0].address }
                throw JobError("stopped at layer \(layer): \(lost.count) worker(s) lost (\(lost.joined(separator: ", "))), \(live.count) left, "
                               + "fewer than --min-workers \(inputs.minWorkers)")
            }
            currentPhase = (layer, "recover")
            let assignment = deal(orphaned, to: live)
            do {
                _ = try await broadcast("rewind") { _ in .rewind(layer: layer) }
                if assignment.isEmpty { break }
                let (merged, lost) = try await handOver(assignment, layer: layer)
                for (index, count) in merged { given[index, default: 0] += count }
                if lost { continue }
            } catch is WorkersLost {
                continue
            }
            break
        }
        // Every orphaned block was dealt out, and every adopter merged its share.
        for position in losses.indices where !losses[position].recovered {
            losses[position].reassignedTo = given.keys.sorted().filter { alive[$0] }.map { "\(workers[$0].address) \(given[$0, default: 0])" }
        }
        let bytes = await trafficTotal() - traffic
        for position in losses.indices where !losses[position].recovered {
            losses[position].recovered = true
            losses[position].replayedLayers = layer
            losses[position].recoverySeconds = Date().timeIntervalSince(started)
            losses[position].recoveryBytes = bytes
        }
        progress?.log("recovered: \(liveWorkers.count) worker(s) go on from layer \(layer)")
    }

    /// Gives the samples of `assignment` (held by nobody: in `orphaned`) to their workers, with
    /// hidden states at the input of `layer`: adopted with `states` as they are, or rebuilt from
    /// the embeddings by replaying the layers done. What a worker merged moves from `orphaned`
    /// to its `blocks`; what a lost one did not stays orphaned.
    /// - Returns: samples merged per worker, and whether workers were lost on the way.
    /// - Throws: `JobError` when a worker fails.
    func handOver(_ assignment: [Int: [Range<Int>]], layer: Int, states: [Int: Tensor] = [:]) async throws -> (merged: [Int: Int], lost: Bool) {
        do {
            _ = try await broadcast("adopt") { index in
                guard let runs = assignment[index] else { return nil }
                return .adopt(try self.adoptedSamples(runs, states: states[index]))
            }
            let replaying = Set(assignment.keys.filter { states[$0] == nil })
            if !replaying.isEmpty {
                for completed in 0..<layer {
                    let replay = try layerReplay(completed)
                    _ = try await broadcast("replay \(completed)") { replaying.contains($0) ? .replay(replay) : nil }
                }
            }
        } catch is WorkersLost {
            return ([:], true)
        }
        // Each merge that answered took its samples, whoever else was lost meanwhile.
        let replies = try await broadcast("merge", keepLost: true) { assignment[$0] == nil ? nil : .mergeAdopted }
        var merged: [Int: Int] = [:]
        var lost = false
        for (index, runs) in assignment {
            guard replies[index] != nil else {
                lost = true
                continue
            }
            blocks[index] += runs
            orphaned = SampleRuns.subtract(runs, from: orphaned)
            merged[index] = runs.reduce(0) { $0 + $1.count }
        }
        return (merged, lost)
    }

    /// The orphaned samples cut into statistics blocks and dealt out to `live` in proportion to
    /// their capacities (contiguous runs, in block order): a function of the blocks and the live workers.
    func deal(_ runs: [Range<Int>], to live: [Int]) -> [Int: [Range<Int>]] {
        let units = SampleRuns.units(of: runs, block: statisticsBlock)
        guard !units.isEmpty, !live.isEmpty else { return [:] }
        var assignment: [Int: [Range<Int>]] = [:]
        for (position, share) in SampleShards.split(samples: units.count, capacities: live.map { workers[$0].capacity }).enumerated() where !share.isEmpty {
            assignment[live[position]] = SampleRuns.merged(Array(units[share]))
        }
        return assignment
    }

    /// The samples of `runs` as a worker adopts them (with their embeddings when streaming).
    private func adoptedSamples(_ runs: [Range<Int>], states: Tensor?) throws -> AdoptedSamples {
        let sequences = runs.flatMap { inputs.sequences[$0] }
        return AdoptedSamples(blocks: runs, sequences: sequences, embeddings: states == nil ? try streamedEmbeddings(of: sequences) : nil, states: states)
    }

    /// Completed layer `layer` as the workers ran it, its quantized weights read back from the output.
    func layerReplay(_ layer: Int) throws -> LayerReplay {
        guard let writer, replayLog.indices.contains(layer) else { throw JobError("layer \(layer): no record to replay it from") }
        let scheme = try scheme()
        let steps = try replayLog[layer].map { event -> LayerReplay.Step in
            switch event {
            case .fold(let fold):
                return .fold(fold)
            case .apply(let stage, let modules):
                return .apply(stage, try modules.map { module in try module.map { try writtenWeights($0, writer: writer, scheme: scheme) } })
            }
        }
        return LayerReplay(layer: layer, weights: inputs.recipe.streamWeights ? try layerTensors(layer) : nil, steps: steps)
    }

    /// A quantized linear as written to the checkpoint, unpacked: the exact codes, scales and
    /// zero points applied (scales are rounded to the dtype they are stored in before the solve).
    private func writtenWeights(_ module: String, writer: ShardedCheckpointWriter, scheme: QuantizationScheme) throws -> QuantizedWeights {
        let prefix = module + "."
        var tensors: [String: Tensor] = [:]
        for name in writer.names(withPrefix: prefix) { tensors[String(name.dropFirst(prefix.count))] = try writer.tensor(name) }
        return inputs.recipe.activationBits != nil
            ? try IntQuantizedPacking.unpack(tensors, scheme: scheme, name: module)
            : try CompressedTensorsPacking.unpack(tensors, scheme: scheme, name: module)
    }

    /// Every worker's traffic so far, together.
    func traffic() async -> WorkerTraffic {
        var total = WorkerTraffic()
        for worker in workers { total = total + (await worker.traffic()) }
        return total
    }

    func trafficTotal() async -> Int {
        let total = await traffic()
        return total.sent + total.received
    }
}
