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
        let (scheme, packed, inputScheme) = try Self.scheme(config["quantization_config"], file: configPath)
        self.scheme = scheme
        self.packed = packed
        let marker = packed ? ".weight_packed" : ".weight_scale"
        let reader = self.reader
        let modules = Set(reader.names.filter { $0.hasSuffix(marker) }.map { String($0.dropLast(marker.count)) })
        let quantized = packed ? modules : modules.filter { (try? reader.entry($0 + ".weight").dtype) == .i8 }
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

    public func release(_ name: String) {
        guard let module = quantizedModule(name), quantized.contains(module) else { return reader.release(name) }
        for suffix in ["weight", "weight_packed", "weight_scale", "weight_zero_point", "weight_g_idx"] { reader.release("\(module).\(suffix)") }
    }

    /// "X" for "X.weight", nil otherwise.
    private func quantizedModule(_ name: String) -> String? {
        name.hasSuffix(".weight") ? String(name.dropLast(".weight".count)) : nil
    }

    /// The weight scheme of a `quantization_config` with one config group of int weights, whether
    /// its format packs them, and its input activations' per-token grid.
    private static func scheme(_ value: Any?, file: String) throws -> (QuantizationScheme, Bool, QuantizationScheme?) {
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
        guard let bits = weights["num_bits"] as? Int, let symmetric = weights["symmetric"] as? Bool,
              weights["type"] as? String == "int" else {
            throw CheckpointError(.badConfig, file: file, "quantization_config weights need num_bits, symmetric and type int")
        }
        let strategy = weights["strategy"] as? String ?? "group"
        let groupSize = strategy == "channel" ? -1 : (weights["group_size"] as? Int ?? -1)
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
                throw CheckpointError(.badConfig, file: file, "quantization_config.config_groups.\(groupName).input_activations.num_bits: \(error.message)")
            }
        }
        do {
            return (try QuantizationScheme(bits: bits, symmetric: symmetric, groupSize: groupSize), format == "pack-quantized", activationScheme)
        } catch {
            throw CheckpointError(.badConfig, file: file, "quantization_config weights: \(error.message)")
        }
    }
}
