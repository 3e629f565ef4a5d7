import Checkpoint
import Foundation
import Kernels
import Tensors

/// A compressed-tensors checkpoint seen as plain weights. `pack-quantized`: every quantized
/// linear's `weight_packed` / `weight_scale` / `weight_zero_point` / `weight_g_idx` / `weight_shape`
/// appear as one dequantized F32 `weight`; `int-quantized`: the I8 `weight` with its
/// `weight_scale` (and `weight_zero_point`) likewise; W = (q − z)·s as compressed-tensors computes
/// it. Every other tensor passes through. Wrap it in
/// `CheckpointWeightSource(config:store:activationSchemes:)` to run or evaluate the quantized model;
/// `activationSchemes` says which linears quantize their inputs (W8A8), as the config prescribes.
public struct CompressedTensorsStore: TensorStore {
    public let path: String
    private let reader: CheckpointReader
    private let scheme: QuantizationScheme
    /// Module prefixes (e.g. "model.layers.0.mlp.down_proj") stored quantized.
    private let quantized: Set<String>
    private let packed: Bool
    /// Module → the per-token grid of its input activations (config `input_activations`), for
    /// quantized modules.
    public let activationSchemes: [String: QuantizationScheme]

    /// Opens the checkpoint in `directory` and reads its `quantization_config`.
    /// - Throws: `CheckpointError` for a missing or unsupported quantization config (another
    ///   format, activation quantization, more than one config group), naming the field.
    public init(directory: String) throws {
        path = directory
        reader = try CheckpointReader(path: directory)
        let configPath = (directory as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configPath),
              let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CheckpointError(.badConfig, file: configPath, "cannot read config.json as a JSON object")
        }
        let (scheme, packed, inputScheme, ignore) = try Self.scheme(config["quantization_config"], file: configPath)
        self.scheme = scheme
        self.packed = packed
        let marker = packed ? ".weight_packed" : ".weight_scale"
        let reader = self.reader
        let modules = Set(reader.names.filter { $0.hasSuffix(marker) }.map { String($0.dropLast(marker.count)) })
        let quantized = packed ? modules : modules.filter { (try? reader.entry($0 + ".weight").dtype) == .i8 }
        // The tensors and the config must say the same: a quantized module the config ignores,
        // or zero points under a symmetric scheme (compressed-tensors drops them when it saves
        // one), mean the checkpoint is not what its config describes.
        for module in quantized.sorted() {
            if let pattern = ignore.first(where: { $0.matches(module) }) {
                throw CheckpointError(.badConfig, file: configPath, tensor: module + (packed ? ".weight_packed" : ".weight"),
                                      "stored quantized, but quantization_config.ignore lists it (\"\(pattern.text)\")")
            }
            if scheme.symmetric, reader.contains(module + ".weight_zero_point") {
                throw CheckpointError(.badConfig, file: configPath, tensor: module + ".weight_zero_point",
                                      "present, but quantization_config says symmetric: true (symmetric checkpoints carry no zero points); the config does not describe these tensors")
            }
        }
        self.quantized = quantized
        activationSchemes = inputScheme.map { scheme in Dictionary(uniqueKeysWithValues: quantized.map { ($0, scheme) }) } ?? [:]
    }

    /// Whether `directory`'s config.json declares a compressed-tensors quantization.
    public static func isQuantized(_ directory: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent("config.json")),
              let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let quantization = config["quantization_config"] as? [String: Any] else { return false }
        return quantization["quant_method"] as? String == "compressed-tensors"
    }

    public var names: [String] {
        var names = reader.names.filter { name in !quantized.contains { name.hasPrefix($0 + ".weight") } }
        names += quantized.map { $0 + ".weight" }
        return names.sorted()
    }

    public func contains(_ name: String) -> Bool {
        if let module = quantizedModule(name), quantized.contains(module) { return true }
        return reader.contains(name)
    }

    public func tensor(_ name: String) throws -> Tensor {
        guard let module = quantizedModule(name), quantized.contains(module) else { return try reader.tensor(name) }
        var parts: [String: Tensor] = [:]
        for suffix in ["weight", "weight_packed", "weight_scale", "weight_shape", "weight_zero_point", "weight_g_idx"] where reader.contains("\(module).\(suffix)") {
            parts[suffix] = try reader.tensor("\(module).\(suffix)")
        }
        let weights: QuantizedWeights
        do {
            weights = packed ? try CompressedTensorsPacking.unpack(parts, scheme: scheme, name: module)
                : try IntQuantizedPacking.unpack(parts, scheme: scheme, name: module)
        } catch {
            throw CheckpointError(.invalidValue, file: path, tensor: module + (packed ? ".weight_packed" : ".weight"), error.message)
        }
        let matrix = weights.dequantized()
        return Tensor(floats: matrix.values, shape: [matrix.rows, matrix.columns])
    }

    /// A quantized module's weight as `tensor` returns it (F32 of `weight_shape`, or of the I8
    /// weight's shape), read from the headers and the small `weight_shape` tensor.
    public func layout(of name: String) throws -> (dtype: DType, shape: [Int]) {
        guard let module = quantizedModule(name), quantized.contains(module) else {
            let entry = try reader.entry(name)
            return (entry.dtype, entry.shape)
        }
        guard packed else { return (.f32, try reader.entry(name).shape) }
        let shapeName = module + ".weight_shape"
        guard reader.contains(shapeName) else {
            throw CheckpointError(.missingTensor, file: path, tensor: shapeName, "missing; a pack-quantized weight needs its shape")
        }
        let shape = try reader.tensor(shapeName)
        guard shape.shape == [2], shape.dtype == .i64 || shape.dtype == .i32 else {
            throw CheckpointError(.invalidValue, file: path, tensor: shapeName, "expected two I64 or I32 sizes, found \(shape.dtype.rawValue) \(shape.shape)")
        }
        let values = shape.dtype == .i64 ? shape.integers(as: Int64.self) : shape.integers(as: Int32.self).map(Int64.init)
        guard values.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
            throw CheckpointError(.invalidValue, file: path, tensor: shapeName, "\(values) is not a matrix shape")
        }
        return (.f32, values.map { Int($0) })
    }

    public func prefetch(_ name: String) {
        guard let module = quantizedModule(name), quantized.contains(module) else { return reader.prefetch(name) }
        for suffix in ["weight", "weight_packed", "weight_scale", "weight_zero_point", "weight_g_idx"] { reader.prefetch("\(module).\(suffix)") }
    }

    public func release(_ name: String) {
        guard let module = quantizedModule(name), quantized.contains(module) else { return reader.release(name) }
        for suffix in ["weight", "weight_packed", "weight_scale", "weight_zero_point", "weight_g_idx"] { reader.release("\(module).\(suffix)") }
    }

    /// "X" for "X.weight", nil otherwise.
    private func quantizedModule(_ name: String) -> String? {
        name.hasSuffix(".weight") ? String(name.dropLast(".weight".count)) : nil
    }

    /// The weight scheme of a `quantization_config` with one config group of int weights, whether
    /// its format packs them, its input activations' per-token grid, and its `ignore` patterns.
    /// Read as compressed-tensors reads it (`QuantizationArgs`): a missing strategy follows from
    /// group_size (positive: group, -1: channel, none: tensor), and what calibrate cannot load
    /// as the config says is refused, naming the field — never ignored.
    private static func scheme(_ value: Any?, file: String) throws -> (QuantizationScheme, Bool, QuantizationScheme?, [IgnorePattern]) {
        guard let config = value as? [String: Any] else {
            throw CheckpointError(.badConfig, file: file, "has no quantization_config")
        }
        let format = config["format"] as? String
        guard config["quant_method"] as? String == "compressed-tensors", format == "pack-quantized" || format == "int-quantized" else {
            throw CheckpointError(.badConfig, file: file, "quantization_config is \(config["quant_method"] ?? "?")/\(format ?? "?"); expected compressed-tensors with pack-quantized or int-quantized")
        }
        guard let groups = config["config_groups"] as? [String: Any], groups.count == 1, let groupName = groups.keys.first,
              let group = groups[groupName] as? [String: Any], let weights = group["weights"] as? [String: Any] else {
            throw CheckpointError(.badConfig, file: file, "quantization_config.config_groups must hold exactly one group with weights")
        }
        let field = "quantization_config.config_groups.\(groupName)"
        if let groupFormat = group["format"], !(groupFormat is NSNull) {
            guard groupFormat as? String == format else {
                throw CheckpointError(.badConfig, file: file, "\(field).format is \(groupFormat), but quantization_config.format is \(format ?? "?")")
            }
        }
        guard let bits = weights["num_bits"] as? Int, let symmetric = weights["symmetric"] as? Bool,
              weights["type"] as? String == "int" else {
            throw CheckpointError(.badConfig, file: file, "quantization_config weights need num_bits, symmetric and type int")
        }
        let groupSize = try Self.groupSize(weights, field: field + ".weights", file: file)
        var activationScheme: QuantizationScheme?
        if let activations = group["input_activations"] as? [String: Any] {
            guard activations["type"] as? String == "int", activations["symmetric"] as? Bool == true,
                  activations["strategy"] as? String == "token", activations["dynamic"] as? Bool == true,
                  let bits = activations["num_bits"] as? Int else {
                throw CheckpointError(.badConfig, file: file, "quantization_config input_activations: only int, symmetric, per-token, dynamic activations are supported")
            }
            do {
                activationScheme = try QuantizationScheme(bits: bits, symmetric: true, groupSize: -1)
            } catch {
                throw CheckpointError(.badConfig, file: file, "\(field).input_activations.num_bits: \(error.message)")
            }
        }
        let ignore = try IgnorePattern.list(config["ignore"], file: file)
        do {
            return (try QuantizationScheme(bits: bits, symmetric: symmetric, groupSize: groupSize), format == "pack-quantized", activationScheme, ignore)
        } catch {
            throw CheckpointError(.badConfig, file: file, "quantization_config weights: \(error.message)")
        }
    }

    /// The group size of `weights` (-1: one group per row), from its strategy and group_size as
    /// compressed-tensors validates them.
    private static func groupSize(_ weights: [String: Any], field: String, file: String) throws -> Int {
        let sizeValue = weights["group_size"].flatMap { $0 is NSNull ? nil : $0 }
        let size: Int?
        if let sizeValue {
            guard let integer = sizeValue as? Int, integer > 0 || integer == -1 else {
                throw CheckpointError(.badConfig, file: file, "\(field).group_size is \(sizeValue); expected a positive integer, or -1 for one group per channel")
            }
            size = integer
        } else {
            size = nil
        }
        let strategyValue = weights["strategy"].flatMap { $0 is NSNull ? nil : $0 }
        guard strategyValue == nil || strategyValue is String else {
            throw CheckpointError(.badConfig, file: file, "\(field).strategy is \(strategyValue ?? ""); expected a string")
        }
        let strategy = (strategyValue as? String) ?? (size == nil ? "tensor" : size == -1 ? "channel" : "group")
        switch strategy {
        case "group":
            guard let size, size > 0 else {
                throw CheckpointError(.badConfig, file: file, "\(field).strategy is group, which needs a positive group_size; found \(sizeValue ?? "none")")
            }
            return size
        case "channel":
            guard size == nil || size == -1 else {
                throw CheckpointError(.badConfig, file: file, "\(field).group_size \(size ?? 0) needs strategy group; strategy is channel")
            }
            return -1
        default:
            throw CheckpointError(.badConfig, file: file, "\(field).strategy \"\(strategy)\" is not supported; supported: group, channel")
        }
    }
}

/// One entry of a compressed-tensors `ignore` list: a module name, or `re:` and a regular
/// expression matched from the start of the name (Python's `re.match`, as compressed-tensors does).
struct IgnorePattern {
    let text: String
    private let expression: NSRegularExpression?

    static func list(_ value: Any?, file: String) throws -> [IgnorePattern] {
        guard let value, !(value is NSNull) else { return [] }
        guard let entries = value as? [Any] else {
            throw CheckpointError(.badConfig, file: file, "quantization_config.ignore is \(value); expected a list of module names and re: patterns")
        }
        return try entries.enumerated().map { index, entry in
            guard let text = entry as? String else {
                throw CheckpointError(.badConfig, file: file, "quantization_config.ignore[\(index)] is \(entry); expected a module name or a re: pattern")
            }
            guard text.hasPrefix("re:") else { return IgnorePattern(text: text, expression: nil) }
            do {
                return IgnorePattern(text: text, expression: try NSRegularExpression(pattern: String(text.dropFirst(3))))
            } catch {
                throw CheckpointError(.badConfig, file: file, "quantization_config.ignore[\(index)] \"\(text)\" is not a valid regular expression")
            }
        }
    }

    func matches(_ module: String) -> Bool {
        guard let expression else { return module == text }
        let range = NSRange(module.startIndex..., in: module)
        return expression.firstMatch(in: module, options: [.anchored], range: range) != nil
    }
}
