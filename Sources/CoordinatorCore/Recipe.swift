/// What to quantize and how: the job's recipe, from command-line flags and/or a YAML file, both
/// through `Recipe.fields` (RecipeFields.swift).
///
/// Defaults are those of the command line (`coordinator --help`): GPTQ, 4 bits, group size 128,
/// symmetric, no act-order, 1 % damping, 128 samples of 2048 tokens, seed 0, lm_head kept, 5 GB
/// shards, true-sequential.
public struct Recipe: Sendable, Equatable {
    public enum Method: String, Sendable, CaseIterable {
        /// GPTQ (Frantar et al. 2022) on Hessians from the calibration samples.
        case gptq
        /// Round to nearest (no calibration data needed beyond the pass itself).
        case rtn
        /// AWQ (Lin et al. 2023): activation-aware per-channel scales searched on the samples,
        /// folded into the layer, then round-to-nearest with AWQ's clip search (or GPTQ).
        case awq
    }

    /// AWQ's v→o and up→down groups change one linear, whose output error over the samples is
    /// tr(E·XᵀX·Eᵀ): computed from the merged XᵀX with the rows spread over the workers (2·N·K²
    /// per candidate, whatever the sample count) or on each worker's samples (2·T·N·K).
    public enum AWQOutputLoss: String, Sendable, CaseIterable {
        /// `samples` while the calibration tokens T are at most the linear's input width K, else `gram`.
        case auto
        case gram
        case samples

        /// The choice for a linear with `columns` inputs and `tokens` calibration tokens in all:
        /// a function of the job alone, never of the worker count, so every count chooses alike.
        public func resolved(tokens: Int, columns: Int) -> AWQOutputLoss {
            self == .auto ? (tokens <= columns ? .samples : .gram) : self
        }
    }

    public var method: Method = .gptq
    /// Bits per weight, 2…8.
    public var bits = 4
    /// Input channels per quantization group; -1 means one group per output channel.
    public var groupSize = 128
    public var symmetric = true
    /// GPTQ's act-order (desc_act): quantize columns in order of decreasing Hessian diagonal.
    public var actOrder = false
    /// GPTQ damping as a fraction of the mean Hessian diagonal.
    public var damp = 0.01
    public var samples = 128
    public var sequenceLength = 2048
    public var seed: UInt64 = 0
    /// Module names (or name suffixes) left unquantized.
    public var ignore: [String] = ["lm_head"]
    /// Bytes of tensor data per output shard.
    public var maxShardSize = 5_000_000_000
    /// Capture each stage's inputs with everything upstream already quantized (one forward pass).
    public var trueSequential = true
    /// The coordinator sends layer weights instead of workers reading them from the model path.
    public var streamWeights = false
    /// AWQ: ratios α = i/grid, i < grid, tried per scaling group.
    public var awqGrid = 20
    /// AWQ: s = x̄^α / w̄^(1−α) ("duo" scaling, AutoAWQ's default) rather than x̄^α.
    public var awqDuoScaling = true
    /// AWQ: clip weights per group before quantizing (AutoAWQ's default; not q/k).
    public var awqClip = true
    /// AWQ: quantize the scaled weights with GPTQ instead of round-to-nearest.
    public var awqGPTQ = false
    /// AWQ: how the v→o and up→down groups measure a candidate's output error.
    public var awqOutputLoss: AWQOutputLoss = .auto
    /// SmoothQuant's migration strength α, or nil for no smoothing.
    public var smoothQuant: Double?
    /// Activation bits (8: int8 dynamic per-token activations, the W8A8 int-quantized format), or
    /// nil for weight-only quantization.
    public var activationBits: Int?
    /// Whether a group size was set through `set` (a file or the command line): activation bits
    /// imply per-channel weights only when none was.
    var groupSizeGiven = false

    public init() {}

    /// Checks every field's range.
    /// - Throws: `JobError` naming the field, its value and what is allowed.
    public func validate() throws {
        guard (2...8).contains(bits) else { throw JobError("bits is \(bits); expected 2 to 8") }
        guard groupSize == -1 || groupSize > 0 else { throw JobError("group size is \(groupSize); expected a positive divisor of the input width, or -1 for per-channel") }
        guard damp > 0 && damp < 1 else { throw JobError("damp is \(damp); expected a fraction in (0, 1), e.g. 0.01") }
        guard samples > 0 else { throw JobError("samples is \(samples); expected at least 1") }
        guard sequenceLength > 1 else { throw JobError("sequence length is \(sequenceLength); expected at least 2 tokens") }
        guard maxShardSize > 0 else { throw JobError("max shard size must be positive") }
        guard awqGrid >= 1 else { throw JobError("AWQ grid is \(awqGrid); expected at least 1") }
        if let alpha = smoothQuant {
            guard alpha >= 0 && alpha <= 1 else { throw JobError("SmoothQuant α is \(alpha); expected a value in [0, 1], e.g. 0.5") }
            guard method != .awq else { throw JobError("SmoothQuant and AWQ both fold scales into the norms; choose one (--method gptq or rtn with --smoothquant)") }
        }
        if let bits = activationBits {
            guard bits == 8 else { throw JobError("activation bits are \(bits); only 8 (int8 dynamic per token) is supported") }
            guard self.bits == 8, groupSize == -1 else {
                throw JobError("int8 activations go with int8 weights per output channel (W8A8): use --bits 8 --group-size -1")
            }
            guard symmetric else { throw JobError("W8A8 int-quantized weights are symmetric here; drop --asym") }
        }
    }

    /// Whether the module `name` (e.g. `model.layers.3.mlp.down_proj`) is to be left unquantized.
    public func ignores(_ name: String) -> Bool {
        ignore.contains { name == $0 || name.hasSuffix("." + $0) }
    }
}
