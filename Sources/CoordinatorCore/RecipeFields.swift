/// A value for a recipe field, as a YAML file or the command line gives it.
public enum RecipeValue: Sendable, Equatable {
    case integer(Int)
    case number(Double)
    case flag(Bool)
    case text(String)
    case list([String])
}

/// One field of the recipe: its YAML key, its command-line flags, its help text, what values it
/// takes and how one sets the recipe. `Recipe.fields` is the one list of them: the YAML reader,
/// `coordinator --help` and the command line's mapping all read it (`RecipeFieldTests` checks that
/// the command line agrees with it field by field).
public struct RecipeField: Sendable {
    public enum Kind: Sendable, Equatable {
        case integer
        case number
        /// true or false; on the command line a flag (or a pair, or a `--no-` flag).
        case flag
        /// One of the given names.
        case choice([String])
        /// Bytes: an integer or a size such as 5GB.
        case size
        /// A list of names (repeatable on the command line).
        case list
    }

    /// The YAML key, snake case (`group_size`).
    public let key: String
    /// The command-line spellings (`--group-size`; `--sym`, `--asym`; `--no-true-sequential`).
    public let flags: [String]
    public let help: String
    public let kind: Kind
    /// Sets the field from a value of its kind; throws (a message) for a value of the right kind
    /// out of the field's own range, beyond what `Recipe.validate` checks.
    let apply: @Sendable (inout Recipe, RecipeValue) throws -> Void

    init(_ key: String, _ flags: [String], _ kind: Kind, _ help: String, _ apply: @escaping @Sendable (inout Recipe, RecipeValue) throws -> Void) {
        (self.key, self.flags, self.kind, self.help, self.apply) = (key, flags, kind, help, apply)
    }

    /// What the kind accepts, for errors.
    var expected: String {
        switch kind {
        case .integer: "an integer"
        case .number: "a number"
        case .flag: "true or false"
        case .choice(let names): "one of \(names.joined(separator: ", "))"
        case .size: "a size such as 5GB"
        case .list: "a list of module names"
        }
    }
}

extension Recipe {
    /// Every field of the recipe, in `--help` order.
    public static let fields: [RecipeField] = [
        RecipeField("method", ["--method"], .choice(Method.allCases.map(\.rawValue)), "gptq, rtn or awq (default: gptq).") {
            if case .text(let name) = $1, let method = Method(rawValue: name) { $0.method = method }
        },
        RecipeField("bits", ["--bits"], .integer, "Bits per weight, 2–8 (default: 4).") { $0.bits = $1.integer },
        RecipeField("group_size", ["--group-size"], .integer, "Input channels per group; -1 = per channel (default: 128).") {
            $0.groupSize = $1.integer
            $0.groupSizeGiven = true
        },
        RecipeField("sym", ["--sym", "--asym"], .flag, "Symmetric (default) or asymmetric quantization with zero points.") { $0.symmetric = $1.flag },
        RecipeField("act_order", ["--act-order"], .flag, "GPTQ act-order (desc_act) with static groups.") { $0.actOrder = $1.flag },
        RecipeField("damp", ["--damp"], .number, "GPTQ damping, a fraction of mean(diag H) (default: 0.01).") { $0.damp = $1.number },
        RecipeField("samples", ["--samples"], .integer, "Calibration sequences (default: 128).") { $0.samples = $1.integer },
        RecipeField("seq_len", ["--seq-len"], .integer, "Tokens per calibration sequence (default: 2048).") { $0.sequenceLength = $1.integer },
        RecipeField("seed", ["--seed"], .integer, "Seed of the sample selection, ≥ 0 (default: 0).") {
            guard let seed = UInt64(exactly: $1.integer) else { throw JobError("seed must be a non-negative integer, found \($1)") }
            $0.seed = seed
        },
        RecipeField("ignore", ["--ignore"], .list, "Module names (or suffixes) left unquantized; repeatable (default: lm_head).") {
            if case .list(let names) = $1 { $0.ignore = names }
        },
        RecipeField("max_shard_size", ["--max-shard-size"], .size, "Tensor bytes per output shard, e.g. 5GB or 500MB (default: 5GB).") {
            $0.maxShardSize = $1.integer
        },
        RecipeField("true_sequential", ["--no-true-sequential"], .flag,
                    "Capture each layer with its original weights, then quantize (for comparison with tools that work that way).") {
            $0.trueSequential = $1.flag
        },
        RecipeField("stream_weights", ["--stream-weights"], .flag, "Send layer weights to the workers instead of letting them read --model.") {
            $0.streamWeights = $1.flag
        },
        RecipeField("awq_grid", ["--awq-grid"], .integer, "AWQ: ratios tried per scaling group (default: 20).") { $0.awqGrid = $1.integer },
        RecipeField("awq_duo_scaling", ["--no-awq-duo-scaling"], .flag, "AWQ: scale by activations alone (x̄^α) instead of AutoAWQ's duo scaling.") {
            $0.awqDuoScaling = $1.flag
        },
        RecipeField("awq_clip", ["--no-awq-clip"], .flag, "AWQ: skip the weight clip search.") { $0.awqClip = $1.flag },
        RecipeField("awq_gptq", ["--awq-gptq"], .flag, "AWQ: quantize the scaled weights with GPTQ instead of round-to-nearest.") { $0.awqGPTQ = $1.flag },
        RecipeField("awq_output_loss", ["--awq-output-loss"], .choice(AWQOutputLoss.allCases.map(\.rawValue)),
                    "AWQ: v→o and up→down output error from XᵀX (gram), on the workers' samples (samples), or the cheaper (auto: samples while tokens ≤ the linear's inputs).") {
            if case .text(let name) = $1, let loss = AWQOutputLoss(rawValue: name) { $0.awqOutputLoss = loss }
        },
        RecipeField("smoothquant", ["--smoothquant"], .number, "SmoothQuant migration strength α (e.g. 0.5): smooth the q/k/v and gate/up inputs before quantizing.") {
            $0.smoothQuant = $1.number
        },
        RecipeField("act_bits", ["--act-bits"], .integer,
                    "Activation bits: 8 writes W8A8 (int8 weights per channel, int8 dynamic per-token activations; implies group size -1 unless one is given).") {
            $0.activationBits = $1.integer
            // W8A8 weights are per output channel.
            if !$0.groupSizeGiven { $0.groupSize = -1 }
        },
    ]

    /// The field whose YAML key is `key`.
    public static func field(_ key: String) -> RecipeField? { fields.first { $0.key == key } }

    /// Sets the field `key` to `value`.
    /// - Throws: `JobError` naming `source` (a file, "the command line"), the field and the value
    ///   for an unknown field or a value the field does not take.
    public mutating func set(_ key: String, _ value: RecipeValue, source: String) throws {
        guard let field = Self.field(key) else {
            throw JobError("\(source): unknown recipe field \"\(key)\"; known fields: \(Self.fields.map(\.key).joined(separator: ", "))")
        }
        let accepted: Bool
        switch (field.kind, value) {
        case (.integer, .integer), (.size, .integer), (.flag, .flag), (.list, .list): accepted = true
        case (.number, .number), (.number, .integer): accepted = true
        case (.choice(let names), .text(let name)): accepted = names.contains(name)
        default: accepted = false
        }
        guard accepted else { throw JobError("\(source): \(key) must be \(field.expected), found \(value.description)") }
        do { try field.apply(&self, value) } catch { throw JobError("\(source): \(error)") }
    }
}

extension RecipeValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .integer(let value): "\(value)"
        case .number(let value): "\(value)"
        case .flag(let value): "\(value)"
        case .text(let value): value
        case .list(let values): "[\(values.joined(separator: ", "))]"
        }
    }

    /// The integer (0 for another case; `Recipe.set` checked the kind before).
    var integer: Int { if case .integer(let value) = self { value } else { 0 } }
    /// The number, from a number or an integer.
    var number: Double {
        switch self {
        case .number(let value): value
        case .integer(let value): Double(value)
        default: 0
        }
    }
    var flag: Bool { if case .flag(let value) = self { value } else { false } }
}
