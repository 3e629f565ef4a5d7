import ArgumentParser
import Checkpoint
@testable import CoordinatorCLI
import Foundation
import Model
import ModelConfiguration
import Tensors
import Testing

/// `inspect` runs the checks eval and quantize run: a directory it calls valid is one they load.
@Suite("inspect validates as eval loads")
struct InspectTests {
    /// A one-layer llama of width 8 with every tensor config.json requires (finite values), edited by `edit`.
    static func model(_ edit: (inout [String: Tensor]) -> Void = { _ in }) throws -> String {
        let directory = NSTemporaryDirectory() + "calibrate-inspect-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = #"{"model_type": "llama", "vocab_size": 16, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "torch_dtype": "float32"}"#
        try config.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let parsed = try ModelConfig(directory: directory)
        var tensors: [String: Tensor] = [:]
        for (index, (name, shape)) in CheckpointWeightSource.requiredTensors(parsed).enumerated() {
            let count = shape.reduce(1, *)
            tensors[name] = Tensor(floats: (0..<count).map { Float(($0 + index) % 7) * 0.01 }, shape: shape)
        }
        edit(&tensors)
        try SafetensorsWriter.write(tensors, to: directory + "/model.safetensors")
        return directory
    }

    static func inspect(_ directory: String, _ extra: [String] = []) throws {
        var command = try Inspect.parse(["--model", directory] + extra)
        try command.run()
    }

    @Test("a complete, finite model is valid")
    func valid() throws {
        let directory = try Self.model()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.inspect(directory)
        try Self.inspect(directory, ["--headers-only", "--tensors"])
    }

    @Test("a missing tensor, a wrong shape or dtype is not valid: the error names the tensor")
    func layout() throws {
        let cases: [(edit: (inout [String: Tensor]) -> Void, code: ModelError.Code, tensor: String)] = [
            ({ $0["model.layers.0.mlp.up_proj.weight"] = nil }, .missingTensor, "model.layers.0.mlp.up_proj.weight"),
            ({ $0["lm_head.weight"] = Tensor(floats: [Float](repeating: 0, count: 8 * 15), shape: [15, 8]) }, .badShape, "lm_head.weight"),
            ({ $0["model.norm.weight"] = .integers([Int32](repeating: 1, count: 8), dtype: .i32, shape: [8]) }, .badDType, "model.norm.weight"),
        ]
        for (edit, code, tensor) in cases {
            let directory = try Self.model(edit)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let error = #expect(throws: ModelError.self) { try Self.inspect(directory, ["--headers-only"]) }
            #expect(error?.code == code && error?.tensor == tensor, "\(String(describing: error))")
        }
    }

    @Test("a NaN or Inf in a weight is not valid unless only headers are checked")
    func nonFinite() throws {
        for value in [Float.nan, -.infinity] {
            let directory = try Self.model { tensors in
                var values = [Float](repeating: 0.5, count: 16 * 8)
                values[19] = value
                tensors["model.layers.0.mlp.gate_proj.weight"] = Tensor(floats: values, shape: [16, 8])
            }
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let error = #expect(throws: ModelError.self) { try Self.inspect(directory) }
            #expect(error?.code == .nonFinite && error?.tensor == "model.layers.0.mlp.gate_proj.weight", "\(String(describing: error))")
            #expect(error?.message.contains("element 19") == true, "\(String(describing: error))")
            try Self.inspect(directory, ["--headers-only"])
        }
    }
}
