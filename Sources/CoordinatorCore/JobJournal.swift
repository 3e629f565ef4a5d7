import Checkpoint
import Foundation
import Model
import Tensors

/// What is on disk, beside the shards, after each completed layer: enough for `--resume` to go
/// on after the coordinator is lost (docs/ARCHITECTURE.md, "Coordinator restart"). Written
/// atomically as `calibrate-progress.json` in the output directory; the finished checkpoint
/// keeps it (the index, written last, is what says the checkpoint is complete).
struct JobJournal: Codable {
    static let fileName = "calibrate-progress.json"

    /// What the job was made from; a resume must match it exactly.
    var fingerprint: JobFingerprint
    /// The shards written so far, under their pending names, with their digests.
    var shards: [ShardedCheckpointWriter.WrittenShard]
    /// Completed layers, in order.
    var layers: [LayerRecord]

    /// One completed layer: the tensors it wrote, what it did to the hidden states (to replay it),
    /// its report entry and the modules it quantized.
    struct LayerRecord: Codable {
        var index: Int
        var tensors: [String]
        var events: [Event]
        var report: JobReport.Layer
        var quantized: [String]
    }

    /// A `ReplayEvent` on disk: fold scales as Float bit patterns (exact), stages by name.
    enum Event: Codable {
        case fold(attentionInput: [UInt32]?, attentionOutput: [UInt32]?, mlpInput: [UInt32]?, mlpOutput: [UInt32]?)
        case apply(stage: String, modules: [String?])

        init(_ event: ReplayEvent) {
            switch event {
            case .fold(let fold):
                let bits = { (values: [Float]?) in values?.map(\.bitPattern) }
                self = .fold(attentionInput: bits(fold.attentionInput), attentionOutput: bits(fold.attentionOutput),
                             mlpInput: bits(fold.mlpInput), mlpOutput: bits(fold.mlpOutput))
            case .apply(let stage, let modules):
                self = .apply(stage: stage.description, modules: modules)
            }
        }

        func event(file: String) throws -> ReplayEvent {
            switch self {
            case .fold(let a, let b, let c, let d):
                let floats = { (bits: [UInt32]?) in bits?.map(Float.init(bitPattern:)) }
                return .fold(LayerFold(attentionInput: floats(a), attentionOutput: floats(b), mlpInput: floats(c), mlpOutput: floats(d)))
            case .apply(let name, let modules):
                guard let stage = LayerStage.allCases.first(where: { $0.description == name }) else {
                    throw JobError("\(file): unknown stage \"\(name)\"")
                }
                return .apply(stage, modules: modules)
            }
        }
    }

    func write(to directory: OutputDirectory) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(self)), to: directory.file(Self.fileName))
    }

    /// The journal in `directory`, or nil when there is none.
    /// - Throws: `JobError` naming the file when it cannot be read or decoded.
    static func read(from directory: String) throws -> JobJournal? {
        let path = (directory as NSString).appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else { throw JobError("\(path): cannot read") }
        do {
            return try JSONDecoder().decode(JobJournal.self, from: data)
        } catch {
            throw JobError("\(path): not a calibrate progress file (\(error))")
        }
    }
}

/// Digests of what a job's output depends on: the model, the calibration data, the recipe.
struct JobFingerprint: Codable, Equatable {
    /// config.json, and every tensor's name, dtype, shape and first 4 KiB of data.
    var model: String
    /// The token ids of every sample, in order.
    var data: String
    /// The recipe's fields (and the statistics batch size), one "name: value" each.
    var recipe: [String]

    init(inputs: JobInputs, configJSON: [UInt8], reader: CheckpointReader) throws {
        var hash = SHA256()
        hash.update(configJSON)
        for name in reader.names {
            let entry = try reader.entry(name)
            hash.update(Array("\(name) \(entry.dtype) \(entry.shape)\n".utf8))
            let tensor = try reader.tensor(name)
            tensor.withUnsafeBytes { bytes in hash.update(UnsafeRawBufferPointer(rebasing: bytes.prefix(4096))) }
            reader.release(name)
        }
        model = hash.finalize()
        var samples = SHA256()
        for sequence in inputs.sequences {
            samples.update(Array("\(sequence.count):".utf8))
            sequence.withUnsafeBytes { samples.update($0) }
        }
        data = samples.finalize()
        recipe = Mirror(reflecting: inputs.recipe).children.map { "\($0.label ?? "?"): \($0.value)" }
            + ["statistics batch tokens: \(inputs.statisticsBatchTokens)"]
    }

    /// What differs from `other`, in words ("the model", "recipe bits: 4 → 8"); empty when nothing.
    func differences(from other: JobFingerprint) -> [String] {
        var found: [String] = []
        if model != other.model { found.append("the model (config.json or its tensors)") }
        if data != other.data { found.append("the calibration data (token ids of the samples)") }
        for (mine, theirs) in zip(recipe, other.recipe) where mine != theirs {
            found.append("recipe \(theirs) → \(mine.split(separator: ":", maxSplits: 1).last.map { String($0).trimmingCharacters(in: .whitespaces) } ?? mine)")
        }
        if recipe.count != other.recipe.count { found.append("the recipe's fields (another calibrate version?)") }
        return found
    }
}
