import Foundation
import Yams

extension Recipe {
    /// The recipe fields of a YAML file, with their command-line spellings: `method`, `bits`,
    /// `group_size`, `sym` (true/false), `act_order`, `damp`, `samples`, `seq_len`, `seed`,
    /// `ignore` (a list), `max_shard_size` (`5GB` or bytes), `true_sequential`, `stream_weights`,
    /// `awq_grid`, `awq_duo_scaling`, `awq_clip`, `awq_gptq`, `smoothquant` (α), `act_bits`.
    public static let yamlKeys = ["method", "bits", "group_size", "sym", "act_order", "damp", "samples", "seq_len",
                                  "seed", "ignore", "max_shard_size", "true_sequential", "stream_weights",
                                  "awq_grid", "awq_duo_scaling", "awq_clip", "awq_gptq", "awq_output_loss", "smoothquant", "act_bits"]

    /// Applies the fields of the YAML recipe at `path` on top of `self`.
    /// - Throws: `JobError` naming the file and the key for unknown keys and values of the wrong type.
    public mutating func apply(yamlFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JobError("\(path): cannot read the recipe file")
        }
        try apply(yaml: String(decoding: data, as: UTF8.self), file: path)
    }

    /// Applies the fields of a YAML recipe's text.
    public mutating func apply(yaml text: String, file: String) throws {
        let loaded: Any?
        do {
            loaded = try Yams.load(yaml: text)
        } catch {
            throw JobError("\(file): not valid YAML: \(error)")
        }
        guard let loaded else { return }
        guard let fields = loaded as? [String: Any] else {
            throw JobError("\(file): a recipe is a mapping of fields (\(Self.yamlKeys.joined(separator: ", ")))")
        }
        for key in fields.keys.sorted() {
            try apply(key: key, value: fields[key]!, file: file)
        }
    }

    private mutating func apply(key: String, value: Any, file: String) throws {
        func wrong(_ expected: String) -> JobError {
            JobError("\(file): \(key) must be \(expected), found \(value)")
        }
        func integer() throws -> Int {
            guard let number = value as? Int else { throw wrong("an integer") }
            return number
        }
        func flag() throws -> Bool {
            guard let flag = value as? Bool else { throw wrong("true or false") }
            return flag
        }
        switch key {
        case "method":
            guard let name = value as? String, let method = Method(rawValue: name) else {
                throw wrong("one of \(Method.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.method = method
        case "bits": bits = try integer()
        case "group_size": groupSize = try integer()
        case "sym": symmetric = try flag()
        case "act_order": actOrder = try flag()
        case "damp":
            guard let number = (value as? Double) ?? (value as? Int).map(Double.init) else { throw wrong("a number") }
            damp = number
        case "samples": samples = try integer()
        case "seq_len": sequenceLength = try integer()
        case "seed":
            guard let number = value as? Int, number >= 0 else { throw wrong("a non-negative integer") }
            seed = UInt64(number)
        case "ignore":
            guard let names = value as? [String] else { throw wrong("a list of module names") }
            ignore = names
        case "max_shard_size":
            if let bytes = value as? Int {
                maxShardSize = bytes
            } else if let text = value as? String {
                maxShardSize = try ByteSize.parse(text)
            } else {
                throw wrong("a size such as 5GB")
            }
        case "true_sequential": trueSequential = try flag()
        case "stream_weights": streamWeights = try flag()
        case "awq_grid": awqGrid = try integer()
        case "awq_duo_scaling": awqDuoScaling = try flag()
        case "awq_clip": awqClip = try flag()
        case "awq_gptq": awqGPTQ = try flag()
        case "awq_output_loss":
            guard let text = value as? String, let loss = AWQOutputLoss(rawValue: text) else {
                throw wrong("one of \(AWQOutputLoss.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            awqOutputLoss = loss
        case "smoothquant":
            guard let number = (value as? Double) ?? (value as? Int).map(Double.init) else { throw wrong("a number α in [0, 1]") }
            smoothQuant = number
        case "act_bits": activationBits = try integer()
        default:
            throw JobError("\(file): unknown recipe field \"\(key)\"; known fields: \(Self.yamlKeys.joined(separator: ", "))")
        }
    }
}
