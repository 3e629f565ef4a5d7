import Foundation
import Tensors

extension ModelConfig {
    /// Parses a `config.json`'s contents.
    /// - Parameter file: the config's path, for error messages.
    /// - Throws: `ConfigError` with `.unsupportedModel` (listing the supported types) or
    ///   `.badConfig` naming the file, the field, what was expected and what was found.
    public init(parsing data: Data, file: String) throws {
        let fields = try ConfigFields(data: data, file: file)
        let typeName = try fields.string("model_type")
        guard let modelType = ModelType(rawValue: typeName) else {
            let supported = ModelType.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigError(.unsupportedModel, file: file, "model_type \"\(typeName)\" is not supported; supported: \(supported)")
        }
        let activation = try fields.optionalString("hidden_act") ?? "silu"
        guard activation == "silu" else {
            throw ConfigError(.badConfig, file: file, "hidden_act \"\(activation)\" is not supported; expected \"silu\"")
        }
        self.modelType = modelType
        vocabSize = try fields.positiveInt("vocab_size", atMost: Limits.vocabulary)
        hiddenSize = try fields.positiveInt("hidden_size", atMost: Limits.width)
        intermediateSize = try fields.positiveInt("intermediate_size", atMost: Limits.width)
        numHiddenLayers = try fields.positiveInt("num_hidden_layers", atMost: Limits.layers)
        numAttentionHeads = try fields.positiveInt("num_attention_heads", atMost: Limits.heads)
        numKeyValueHeads = try fields.optionalPositiveInt("num_key_value_heads", atMost: Limits.heads) ?? numAttentionHeads
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw ConfigError(.badConfig, file: file, "num_attention_heads \(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
        }
        if let headDim = try fields.optionalPositiveInt("head_dim", atMost: Limits.headDim) {
            self.headDim = headDim
        } else {
            guard hiddenSize % numAttentionHeads == 0 else {
                throw ConfigError(.badConfig, file: file, "hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads) and head_dim is not given")
            }
            headDim = hiddenSize / numAttentionHeads
        }
        guard headDim % 2 == 0 else {
            throw ConfigError(.badConfig, file: file, "head_dim \(headDim) must be even for rotary embeddings")
        }
        guard numAttentionHeads * headDim <= Limits.width else {
            throw ConfigError(.badConfig, file: file, "num_attention_heads \(numAttentionHeads) × head_dim \(headDim) is more than \(Limits.width), the widest projection calibrate accepts")
        }
        rmsNormEps = try fields.optionalDouble("rms_norm_eps", "a finite non-negative number") { $0 >= 0 } ?? 1e-6
        maxPositionEmbeddings = try fields.optionalPositiveInt("max_position_embeddings", atMost: Limits.positions) ?? 2048
        tieWordEmbeddings = try fields.optionalBool("tie_word_embeddings") ?? false
        let attentionBias = try fields.optionalBool("attention_bias") ?? false
        switch modelType {
        case .llama: (qkvBias, oProjBias, mlpBias, qkNorm) = (attentionBias, attentionBias, try fields.optionalBool("mlp_bias") ?? false, false)
        case .mistral: (qkvBias, oProjBias, mlpBias, qkNorm) = (false, false, false, false)
        case .qwen2: (qkvBias, oProjBias, mlpBias, qkNorm) = (true, false, false, false)
        case .qwen3: (qkvBias, oProjBias, mlpBias, qkNorm) = (attentionBias, attentionBias, false, true)
        }
        slidingWindow = try Self.slidingWindow(fields, modelType: modelType, file: file)
        torchDtype = try Self.dtype(fields, file: file)
        (ropeTheta, ropeScaling) = try Self.rope(fields, file: file)
    }

    private static func slidingWindow(_ fields: ConfigFields, modelType: ModelType, file: String) throws -> Int? {
        switch modelType {
        case .mistral:
            return try fields.optionalPositiveInt("sliding_window", atMost: Int(Int32.max))
        case .qwen2, .qwen3:
            if try fields.optionalBool("use_sliding_window") == true {
                throw ConfigError(.badConfig, file: file, "use_sliding_window true is not supported for \(modelType.rawValue) (per-layer windows)")
            }
            return nil
        case .llama:
            return nil
        }
    }

    private static func dtype(_ fields: ConfigFields, file: String) throws -> DType {
        let name = try fields.optionalString("torch_dtype") ?? fields.optionalString("dtype") ?? "float32"
        switch name {
        case "float32": return .f32
        case "float16": return .f16
        case "bfloat16": return .bf16
        default: throw ConfigError(.badConfig, file: file, "torch_dtype \"\(name)\" is not supported; expected float32, float16 or bfloat16")
        }
    }

    /// rope_theta and rope_scaling, as older configs spell them, or `rope_parameters` (transformers 5).
    private static func rope(_ fields: ConfigFields, file: String) throws -> (Double, RopeScaling) {
        let parameters = try fields.optionalObject("rope_parameters")
        let positive: (Double) -> Bool = { $0 > 0 }
        let theta = try parameters?.optionalDouble("rope_theta", "a finite positive number", positive)
            ?? fields.optionalDouble("rope_theta", "a finite positive number", positive) ?? 10000
        guard let scaling = try parameters ?? fields.optionalObject("rope_scaling") else { return (theta, .none) }
        let kind = try scaling.optionalString("rope_type") ?? scaling.optionalString("type") ?? "default"
        switch kind {
        case "default":
            return (theta, .none)
        case "llama3":
            let factor = try scaling.double("factor", "a finite positive number", positive)
            let low = try scaling.double("low_freq_factor", "a finite positive number", positive)
            let high = try scaling.double("high_freq_factor", "a finite number above low_freq_factor \(low)") { $0 > low }
            return (theta, .llama3(
                factor: factor, lowFrequencyFactor: low, highFrequencyFactor: high,
                originalMaxPositionEmbeddings: try scaling.positiveInt("original_max_position_embeddings", atMost: Limits.positions)))
        default:
            throw ConfigError(.badConfig, file: file, "rope scaling \"\(kind)\" is not supported; supported: default, llama3")
        }
    }
}

extension ModelConfig {
    /// The largest sizes calibrate accepts, checked before anything is sized from them: about 16×
    /// the largest published dense models (hidden 16384–18432, MLP 53248–73728, vocabulary 262144,
    /// 128 heads of up to 256, 126 layers), and small enough that every product the forward pass
    /// forms (a [tokens × width] activation, a [width × width] weight, a Hessian) fits an Int.
    /// The shapes of the tensors present are checked against these sizes before they are read.
    public enum Limits {
        public static let width = 1 << 20
        public static let vocabulary = 1 << 24
        public static let layers = 1 << 12
        public static let heads = 1 << 12
        public static let headDim = 1 << 14
        public static let positions = 1 << 24
    }
}

/// Typed access to the fields of a JSON object, with errors naming the file and the field.
struct ConfigFields {
    let values: [String: Any]
    let file: String

    init(data: Data, file: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data), let values = object as? [String: Any] else {
            throw ConfigError(.badConfig, file: file, "is not a JSON object")
        }
        self.init(values: values, file: file)
    }

    init(values: [String: Any], file: String) {
        self.values = values
        self.file = file
    }

    func string(_ key: String) throws -> String {
        guard let value = try optionalString(key) else { throw missing(key, "a string") }
        return value
    }

    func optionalString(_ key: String) throws -> String? {
        guard let value = present(key) else { return nil }
        guard let string = value as? String else { throw wrong(key, "a string", value) }
        return string
    }

    func positiveInt(_ key: String, atMost limit: Int) throws -> Int {
        guard let value = try optionalPositiveInt(key, atMost: limit) else { throw missing(key, "a positive integer") }
        return value
    }

    /// A positive integer of at most `limit` (a size nothing is allocated from unchecked).
    func optionalPositiveInt(_ key: String, atMost limit: Int) throws -> Int? {
        guard let value = present(key) else { return nil }
        guard let number = Self.number(value), let integer = Int(exactly: number.doubleValue), integer > 0 else {
            throw wrong(key, "a positive integer", value)
        }
        guard integer <= limit else { throw wrong(key, "a positive integer of at most \(limit)", value) }
        return integer
    }

    func double(_ key: String, _ expected: String = "a finite number", _ isValid: (Double) -> Bool = { _ in true }) throws -> Double {
        guard let value = try optionalDouble(key, expected, isValid) else { throw missing(key, expected) }
        return value
    }

    /// A finite number for which `isValid` holds (`expected` says which, for the error).
    func optionalDouble(_ key: String, _ expected: String = "a finite number", _ isValid: (Double) -> Bool = { _ in true }) throws -> Double? {
        guard let value = present(key) else { return nil }
        guard let number = Self.number(value), number.doubleValue.isFinite, isValid(number.doubleValue) else { throw wrong(key, expected, value) }
        return number.doubleValue
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let value = present(key) else { return nil }
        guard let number = value as? NSNumber, Self.isBoolean(number) else { throw wrong(key, "true or false", value) }
        return number.boolValue
    }

    func optionalObject(_ key: String) throws -> ConfigFields? {
        guard let value = present(key) else { return nil }
        guard let object = value as? [String: Any] else { throw wrong(key, "an object", value) }
        return ConfigFields(values: object, file: file)
    }

    /// A JSON number, or nil for anything else (booleans included).
    private static func number(_ value: Any) -> NSNumber? {
        guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
        return number
    }

    /// Whether JSONSerialization produced this NSNumber from `true` or `false`: on Linux every
    /// JSON number casts to Bool, so the boxed type (`c`, a C char) is what tells them apart.
    private static func isBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    /// The value of `key`, treating JSON null as absent.
    private func present(_ key: String) -> Any? {
        guard let value = values[key], !(value is NSNull) else { return nil }
        return value
    }

    private func missing(_ key: String, _ expected: String) -> ConfigError {
        ConfigError(.badConfig, file: file, "missing \"\(key)\" (expected \(expected))")
    }

    private func wrong(_ key: String, _ expected: String, _ found: Any) -> ConfigError {
        ConfigError(.badConfig, file: file, "\"\(key)\" must be \(expected), found \(found)")
    }
}
