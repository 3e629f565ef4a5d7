import Foundation
import JobProtocol
import Model

/// What a finished job did: provenance, per-layer losses and timings, traffic, memory. Written
/// as `calibrate-report.json` and rendered as `calibrate-report.md`.
public struct JobReport: Codable, Sendable {
    public struct Module: Codable, Sendable {
        public var name: String
        /// Hessian-weighted loss of the solve (GPTQ's Σ E²/2 over rows), or the RTN error on the same metric.
        public var loss: Double
        /// Damping actually used, as a fraction of mean(diag H), after any retries.
        public var damp: Double?
        public var dampRetries: Int
        public init(name: String, loss: Double, damp: Double? = nil, dampRetries: Int = 0) {
            (self.name, self.loss, self.damp, self.dampRetries) = (name, loss, damp, dampRetries)
        }
    }

    public struct Layer: Codable, Sendable {
        public var index: Int
        /// Seconds per phase ("load", "capture", "merge", "solve", "apply", "write").
        public var seconds: [String: Double]
        public var modules: [Module]
        /// AWQ's chosen ratio α per scaling group (empty for other methods).
        public var ratios: [String: Double]
        /// AWQ's loss per candidate ratio (α = i/grid) per scaling group, summed over all workers:
        /// the curve the chosen ratio is the first minimum of.
        public var searchLosses: [String: [Double]]
        /// Bytes between the coordinator and all workers for this layer, by request kind
        /// ("load", "capture", "solve", "apply", …); nil in process.
        public var traffic: [String: Bytes]?
        /// Workers each stage was solved on ("qkv": 1, …: `SolvePlacement`); how, not what: not in the manifest.
        public var solvers: [String: Int]?
        /// Stages whose GPTQ factor the solving workers made (the others': the coordinator).
        public var factoredOnWorkers: [String]?
        public init(index: Int, seconds: [String: Double] = [:], modules: [Module] = [], ratios: [String: Double] = [:],
                    searchLosses: [String: [Double]] = [:]) {
            (self.index, self.seconds, self.modules, self.ratios, self.searchLosses) = (index, seconds, modules, ratios, searchLosses)
        }
    }

    public struct Process: Codable, Sendable {
        public var role: String
        public var address: String
        public var samples: Int
        public var peakResidentBytes: Int
        /// OpenBLAS's kernel family and thread count in that process ("Haswell × 2").
        public var blas: String?
        /// A worker's link to the coordinator over the job, by request kind; nil in process.
        public var traffic: [String: Bytes]?
        public init(role: String, address: String, samples: Int, peakResidentBytes: Int, blas: String? = nil) {
            (self.role, self.address, self.samples, self.peakResidentBytes, self.blas) = (role, address, samples, peakResidentBytes, blas)
        }
    }

    /// A worker lost during the job, and what recovering its samples cost.
    public struct Loss: Codable, Sendable {
        public var worker: String
        public var layer: Int
        /// What the job was doing: "start", "load", "capture q/k/v", "solve down", "recover"…
        public var phase: String
        /// Seconds from the job's start to the loss.
        public var at: Double
        public var reason: String
        /// Samples the worker held, reassigned to the survivors.
        public var samples: Int
        /// Whether its samples were rebuilt on the survivors (a loss at the job's end needs nothing).
        public var recovered = false
        /// Where they went and how many each took ("host:port 8").
        public var reassignedTo: [String] = []
        /// Layers replayed on the reassigned samples (the layers completed before the loss), and
        /// the interrupted layer redone on every survivor.
        public var replayedLayers = 0
        public var recoverySeconds = 0.0
        /// Bytes sent to the survivors for the recovery (adopted samples, replayed layers' weights).
        public var recoveryBytes = 0
        public init(worker: String, layer: Int, phase: String, at: Double, reason: String, samples: Int) {
            (self.worker, self.layer, self.phase, self.at, self.reason, self.samples) = (worker, layer, phase, at, reason, samples)
        }
    }

    /// A worker that joined the running job, and what taking it in cost.
    public struct Join: Codable, Sendable {
        public var worker: String
        /// The layer boundary it joined at (its share of the samples is at that layer's input).
        public var layer: Int
        /// Seconds from the job's start.
        public var at: Double
        /// Samples it took over, and from whom ("host:port 8").
        public var samples = 0
        public var from: [String] = []
        /// How the samples' hidden states got there: "moved" (sent by the workers that held
        /// them) or "replayed" (the layers before rebuilt from the embeddings).
        public var transfer: String
        public var seconds = 0.0
        /// Bytes sent and received for it (released and adopted states, replayed layers' weights).
        public var bytes = 0
        public init(worker: String, layer: Int, at: Double, transfer: String) {
            (self.worker, self.layer, self.at, self.transfer) = (worker, layer, at, transfer)
        }
    }

    /// A worker that left the job at a layer boundary (removed from the hosts file): its
    /// samples went to the others, as a joiner's come from them.
    public struct Departure: Codable, Sendable {
        public var worker: String
        public var layer: Int
        /// Seconds from the job's start.
        public var at: Double
        /// Samples it held, and who took them ("host:port 8").
        public var samples = 0
        public var to: [String] = []
        /// "moved" or "replayed", as for a join.
        public var transfer: String
        public var seconds = 0.0
        public var bytes = 0
        public init(worker: String, layer: Int, at: Double, transfer: String) {
            (self.worker, self.layer, self.at, self.transfer) = (worker, layer, at, transfer)
        }
    }

    /// Bytes the coordinator sent and received (requests with their envelopes and frames, and
    /// their replies).
    public typealias Bytes = WorkerTraffic.Bytes

    public struct Shard: Codable, Sendable {
        public var name: String
        public var bytes: Int
        public var sha256: String
        public init(name: String, bytes: Int, sha256: String) { (self.name, self.bytes, self.sha256) = (name, bytes, sha256) }
    }

    public var tool = "calibrate"
    public var toolVersion = ToolVersion.current
    public var model: String
    public var output: String
    public var method: String
    public var bits: Int
    public var groupSize: Int
    public var symmetric: Bool
    public var actOrder: Bool
    public var damp: Double
    public var samples: Int
    public var sequenceLength: Int
    public var seed: UInt64
    public var trueSequential: Bool
    /// SmoothQuant's α, when the inputs were smoothed.
    public var smoothQuant: Double?
    /// Activation bits (8: int8 dynamic per token), when activations are quantized.
    public var activationBits: Int?
    /// AWQ's options, for AWQ jobs: grid, scaling, clip, the quantizer, the output groups' loss.
    public var awq: String?
    public var layers: [Layer] = []
    public var processes: [Process] = []
    public var losses: [Loss] = []
    public var joins: [Join] = []
    public var departures: [Departure] = []
    /// The layer a `--resume` went on from (the layers before it were replayed, not redone).
    public var resumedAt: Int?
    public var shards: [Shard] = []
    public var bytesSent = 0
    public var bytesReceived = 0
    public var totalSeconds = 0.0
    /// Anything the run wants the reader to know (fallbacks taken, non-determinism found).
    public var notes: [String] = []

    public init(recipe: Recipe, model: String, output: String) {
        self.model = model
        self.output = output
        method = recipe.method.rawValue
        bits = recipe.bits
        groupSize = recipe.groupSize
        symmetric = recipe.symmetric
        actOrder = recipe.actOrder
        damp = recipe.damp
        samples = recipe.samples
        sequenceLength = recipe.sequenceLength
        seed = recipe.seed
        trueSequential = recipe.trueSequential
        smoothQuant = recipe.smoothQuant
        activationBits = recipe.activationBits
        if recipe.method == .awq {
            awq = "grid \(recipe.awqGrid), \(recipe.awqDuoScaling ? "duo scaling" : "activation scaling"), "
                + "\(recipe.awqClip ? "clip search" : "no clip"), \(recipe.awqGPTQ ? "GPTQ" : "RTN"), output loss \(recipe.awqOutputLoss.rawValue)"
        }
    }

    /// The report as pretty-printed JSON with sorted keys.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// The provenance manifest (`calibrate-manifest.json`): what made the checkpoint — method,
    /// bits, group size, samples, sequence length, seed, tool version —, per-layer losses, and
    /// the sha256 of every shard.
    public func manifest() throws -> Data {
        var copy = self
        copy.processes = []
        copy.losses = []
        copy.joins = []
        copy.departures = []
        copy.resumedAt = nil
        copy.notes = []
        // What made the checkpoint, not how long it took: the same inputs give the same manifest.
        (copy.totalSeconds, copy.bytesSent, copy.bytesReceived) = (0, 0, 0)
        copy.layers = layers.map { Layer(index: $0.index, modules: $0.modules, ratios: $0.ratios) }
        return try copy.json()
    }

    /// The report as Markdown: provenance, a per-layer table, processes, shards, notes.
    public func markdown() -> String {
        var lines = ["# calibrate report", ""]
        lines.append("- model: `\(model)` → `\(output)`")
        lines.append("- method: \(method), \(bits) bits, group \(groupSize), \(symmetric ? "symmetric" : "asymmetric")\(actOrder ? ", act-order" : ""), damp \(damp)")
        if let awq { lines.append("- AWQ: \(awq)") }
        if let smoothQuant { lines.append("- SmoothQuant: α \(smoothQuant)") }
        if let activationBits { lines.append("- activations: int\(activationBits) dynamic per token") }
        lines.append("- data: \(samples) samples × \(sequenceLength) tokens, seed \(seed); \(trueSequential ? "true-sequential" : "capture with original weights, then apply")")
        if let resumedAt { lines.append("- resumed at layer \(resumedAt) (layers before it replayed from the shards written)") }
        lines.append("- tool: \(tool) \(toolVersion); total \(Self.seconds(totalSeconds)); moved \(ByteSize.describe(bytesSent)) out, \(ByteSize.describe(bytesReceived)) in")
        let phases = Self.phases.filter { phase in layers.contains { $0.seconds[phase] != nil } }
        let placed = layers.contains { $0.solvers != nil }
        lines += ["", "## Layers", "", "| layer | " + phases.joined(separator: " | ") + (placed ? " | solved on (workers) " : "") + " | modules (loss) |",
                  "|---|" + phases.map { _ in "---:" }.joined(separator: "|") + (placed ? "|---" : "") + "|---|"]
        for layer in layers {
            let times = phases.map { layer.seconds[$0].map { Self.seconds($0) } ?? "" }
            let losses = layer.modules.map { "\($0.name.split(separator: ".").suffix(2).joined(separator: ".")) \(Self.scientific($0.loss))" }
            let solvers = LayerStage.allCases.compactMap { stage in
                layer.solvers?[stage.description].map { "\(stage) \($0)" + (layer.factoredOnWorkers?.contains(stage.description) == true ? " (factor there)" : "") }
            }.joined(separator: ", ")
            lines.append("| \(layer.index) | " + times.joined(separator: " | ") + (placed ? " | \(solvers)" : "") + " | " + losses.joined(separator: ", ") + " |")
        }
        lines += ["", "## Processes", "", "| role | address | samples | peak RSS | BLAS |", "|---|---|---:|---:|---|"]
        for process in processes {
            lines.append("| \(process.role) | \(process.address) | \(process.samples) | \(ByteSize.describe(process.peakResidentBytes)) | \(process.blas ?? "") |")
        }
        lines += trafficTable()
        if !losses.isEmpty {
            lines += ["", "## Lost workers", "", "| worker | layer | phase | at | reason | samples → | replayed layers | recovery | bytes |", "|---|---:|---|---:|---|---|---:|---:|---:|"]
            for loss in losses {
                lines.append("| \(loss.worker) | \(loss.layer) | \(loss.phase) | \(Self.seconds(loss.at)) | \(loss.reason) | \(loss.samples) → \(loss.reassignedTo.joined(separator: ", ")) | "
                             + "\(loss.replayedLayers) | \(Self.seconds(loss.recoverySeconds)) | \(ByteSize.describe(loss.recoveryBytes)) |")
            }
        }
        if !joins.isEmpty {
            lines += ["", "## Joined workers", "", "| worker | layer | at | samples ← | transfer | took | bytes |", "|---|---:|---:|---|---|---:|---:|"]
            for join in joins {
                lines.append("| \(join.worker) | \(join.layer) | \(Self.seconds(join.at)) | \(join.samples) ← \(join.from.joined(separator: ", ")) | \(join.transfer) | "
                             + "\(Self.seconds(join.seconds)) | \(ByteSize.describe(join.bytes)) |")
            }
        }
        if !departures.isEmpty {
            lines += ["", "## Workers that left", "", "| worker | layer | at | samples → | transfer | took | bytes |", "|---|---:|---:|---|---|---:|---:|"]
            for departure in departures {
                lines.append("| \(departure.worker) | \(departure.layer) | \(Self.seconds(departure.at)) | \(departure.samples) → \(departure.to.joined(separator: ", ")) | "
                             + "\(departure.transfer) | \(Self.seconds(departure.seconds)) | \(ByteSize.describe(departure.bytes)) |")
            }
        }
        lines += ["", "## Shards", "", "| file | bytes | sha256 |", "|---|---:|---|"]
        for shard in shards { lines.append("| \(shard.name) | \(shard.bytes) | `\(shard.sha256)` |") }
        if !notes.isEmpty {
            lines += ["", "## Notes", ""] + notes.map { "- \($0)" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Bytes per worker link and request kind ("sent / received" from the coordinator's side),
    /// and per layer; nothing when no worker was remote.
    func trafficTable() -> [String] {
        let links = processes.filter { $0.traffic != nil }
        guard !links.isEmpty else { return [] }
        let kinds = WorkerRequest.Kind.allCases.map(\.rawValue).filter { kind in links.contains { $0.traffic?[kind] != nil } || layers.contains { $0.traffic?[kind] != nil } }
        func cell(_ bytes: Bytes?) -> String { bytes.map { "\(ByteSize.describe($0.sent)) / \(ByteSize.describe($0.received))" } ?? "" }
        func total(_ traffic: [String: Bytes]) -> Bytes { traffic.values.reduce(Bytes(), +) }
        var lines = ["", "## Traffic", "", "Bytes the coordinator sent / received, requests and replies with their envelopes (heartbeats not counted).", "",
                     "| link | " + kinds.joined(separator: " | ") + " | total |", "|---|" + kinds.map { _ in "---:" }.joined(separator: "|") + "|---:|"]
        for process in links {
            let traffic = process.traffic ?? [:]
            lines.append("| \(process.address) | " + kinds.map { cell(traffic[$0]) }.joined(separator: " | ") + " | \(cell(total(traffic))) |")
        }
        let counted = layers.filter { $0.traffic != nil }
        if !counted.isEmpty {
            lines += ["", "| layer (all links) | " + kinds.joined(separator: " | ") + " | total |", "|---:|" + kinds.map { _ in "---:" }.joined(separator: "|") + "|---:|"]
            for layer in counted {
                let traffic = layer.traffic ?? [:]
                lines.append("| \(layer.index) | " + kinds.map { cell(traffic[$0]) }.joined(separator: " | ") + " | \(cell(total(traffic))) |")
            }
        }
        return lines
    }

    /// The phases in the order a layer goes through them; the table shows those that took time.
    static let phases = ["load", "capture", "search", "merge", "solve", "apply", "write"]

    static func seconds(_ value: Double) -> String {
        value >= 60 ? "\(Int(value) / 60)m\(String(format: "%02d", Int(value) % 60))s" : String(format: "%.2fs", value)
    }

    static func scientific(_ value: Double) -> String { String(format: "%.3g", value) }
}

/// The version written into reports and manifests.
public enum ToolVersion {
    public static let current = "0.1.0"
}
