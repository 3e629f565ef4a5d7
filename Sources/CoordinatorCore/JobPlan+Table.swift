import Foundation
import Model
import ModelConfiguration

/// The plan as `coordinator plan` prints it.
extension JobPlan {
    /// Lines of text: the inputs, a table of one layer's phases by resource, the job's total,
    /// its critical path, traffic and memory.
    public func table() -> String {
        let c = config
        var lines: [String] = []
        let group = recipe.groupSize > 0 ? "group \(recipe.groupSize)" : "per channel"
        lines.append("plan: \(c.numHiddenLayers) layers (hidden \(c.hiddenSize), MLP \(c.intermediateSize), \(c.numAttentionHeads)/\(c.numKeyValueHeads) heads), "
            + "\(recipe.method.rawValue) \(recipe.bits)-bit \(group)\(recipe.actOrder ? " act-order" : ""), \(recipe.samples) × \(recipe.sequenceLength) tokens, "
            + "\(workers) worker\(workers == 1 ? "" : "s") (at most \(samplesPerWorker) samples each)\(recipe.streamWeights ? ", weights streamed" : "")")
        let r = rates
        lines.append("rates: worker forward \(Self.number(r.forwardGFLOPS)) GFLOP/s, XᵀX \(Self.number(r.statisticsGFLOPS)), GPTQ solve \(Self.number(r.solveGFLOPS)); "
            + "coordinator factor \(Self.number(r.factorGFLOPS)) GFLOP/s, unpack \(Self.rate(r.unpackBytesPerSecond)), merge \(Self.rate(r.mergeBytesPerSecond)); "
            + "worker pack \(Self.rate(r.packBytesPerSecond)), memory \(Self.rate(r.memoryBytesPerSecond)); links \(Self.rate(r.workerLinkBytesPerSecond)) per worker, "
            + "\(Self.rate(r.coordinatorLinkBytesPerSecond)) the coordinator's; disk \(Self.rate(r.diskBytesPerSecond)); "
            + "statistics \(Self.number(r.packedBytesPerSum)) B per sum packed")
        lines.append("")
        let resources = Resource.allCases
        lines.append("| one layer | seconds | " + resources.map(\.rawValue).joined(separator: " | ") + " |")
        lines.append("|---|---:|" + resources.map { _ in "---:|" }.joined())
        for phase in layer {
            lines.append("| \(phase.name) | \(Self.seconds(phase.total)) | " + resources.map { Self.seconds(phase.seconds[$0] ?? 0) }.joined(separator: " | ") + " |")
        }
        let byResource = layerSecondsByResource
        lines.append("| **layer** | **\(Self.seconds(layerSeconds))** | " + resources.map { Self.seconds(byResource[$0] ?? 0) }.joined(separator: " | ") + " |")
        lines.append("")
        lines.append("job: start \(Self.seconds(startSeconds)) s + \(c.numHiddenLayers) × \(Self.seconds(layerSeconds)) s + tensors outside the layers \(Self.seconds(finishSeconds)) s = "
            + "\(Self.seconds(totalSeconds)) s (\(Self.duration(totalSeconds)))")
        let shares = byResource.sorted { $0.value > $1.value }.filter { $0.value > 0 }
            .map { "\($0.key.rawValue) \(Int(($0.value / max(layerSeconds, 1e-12) * 100).rounded())) %" }
        lines.append("critical path: every step waits for all workers, so a layer is the sum of its phases: " + shares.joined(separator: ", "))
        lines.append("solves: " + LayerStage.allCases.compactMap { stage in solvers[stage].map { "\(stage) on \($0)" + (factoredOnWorkers.contains(stage) ? " (factor there)" : "") } }.joined(separator: ", ")
            + " of \(workers) worker\(workers == 1 ? "" : "s") (as many as pay for their copy of the factor on the coordinator's link; the job decides the same from the rates its first layer's solves measure)")
        let t = layerTraffic
        func kinds(_ bytes: [String: Double]) -> String {
            bytes.filter { $0.value > 0 }.sorted { $0.value > $1.value }.map { "\($0.key) \(Self.bytes($0.value))" }.joined(separator: ", ")
        }
        lines.append("traffic per layer, the coordinator's link: sent \(Self.bytes(t.totalSent)) (\(kinds(t.sent))), received \(Self.bytes(t.totalReceived)) (\(kinds(t.received))); "
            + "each worker's link about 1/\(workers) of it; the job: \(Self.bytes(startBytes + Double(c.numHiddenLayers) * t.totalSent)) sent, "
            + "\(Self.bytes(Double(c.numHiddenLayers) * t.totalReceived)) received")
        lines.append("memory: each worker \(Self.bytes(workerPeakBytes)) (hidden states \(Self.bytes(Double(tokensPerWorker) * 4 * Double(c.hiddenSize + c.intermediateSize)))), "
            + "the coordinator \(Self.bytes(coordinatorPeakBytes))")
        for note in notes { lines.append("note: " + note) }
        return lines.joined(separator: "\n")
    }

    static func number(_ value: Double) -> String {
        value >= 100 ? String(Int(value.rounded())) : String(format: value >= 10 ? "%.1f" : "%.2f", value)
    }

    static func seconds(_ value: Double) -> String {
        value >= 100 ? String(Int(value.rounded())) : String(format: value >= 1 ? "%.2f" : "%.3f", value)
    }

    static func rate(_ bytesPerSecond: Double) -> String { bytes(bytesPerSecond) + "/s" }

    static func bytes(_ value: Double) -> String { ByteSize.describe(Int(min(max(value, 0), 9e18))) }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let (h, m, s) = (total / 3600, total / 60 % 60, total % 60)
        return h > 0 ? "\(h) h \(m) min" : m > 0 ? "\(m) min \(s) s" : "\(s) s"
    }
}
