import Checkpoint
import CoordinatorCore
import Formats
import Foundation
import Testing

/// A compressed-tensors checkpoint's `quantization_config` is read as compressed-tensors reads it,
/// and whatever calibrate cannot load as written is refused naming the field, never ignored.
@Suite("quantization_config checks")
struct QuantizationConfigTests {
    /// A quantized llama (GPTQ W4, `symmetric`, group size 32: pack-quantized).
    static func checkpoint(symmetric: Bool) async throws -> String {
        var recipe = InProcessJobTests.recipe
        recipe.symmetric = symmetric
        let samples = InProcessJobTests.samples(count: 2, length: 7, vocabulary: 101)
        return try await InProcessJobTests.run(model: InProcessJobTests.model("llama"), workers: 1, recipe: recipe, samples: samples).1
    }

    /// Rewrites `directory`'s quantization_config with `edit` (group_0's `arguments` — "weights"
    /// or "input_activations" — and the whole block).
    static func edit(_ directory: String, arguments: String = "weights", _ edit: (inout [String: Any], inout [String: Any]) -> Void) throws {
        let path = directory + "/config.json"
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        var quantization = config["quantization_config"] as! [String: Any]
        var weights = ((quantization["config_groups"] as! [String: Any])["group_0"] as! [String: Any])[arguments] as! [String: Any]
        edit(&weights, &quantization)
        // The edited arguments go into the groups as `edit` left them.
        var groups = quantization["config_groups"] as! [String: Any]
        var group = groups["group_0"] as! [String: Any]
        group[arguments] = weights
        groups["group_0"] = group
        quantization["config_groups"] = groups
        config["quantization_config"] = quantization
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
    }

    static func refusal(_ directory: String) -> CheckpointError? {
        #expect(throws: CheckpointError.self) { _ = try CompressedTensorsStore(directory: directory) }
    }

    @Test("unknown or inconsistent strategies, group sizes and formats are refused, naming the field")
    func weightArguments() async throws {
        let directory = try await Self.checkpoint(symmetric: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let original = try Data(contentsOf: URL(fileURLWithPath: directory + "/config.json"))
        _ = try CompressedTensorsStore(directory: directory)
        let cases: [(String, (inout [String: Any], inout [String: Any]) -> Void, String)] = [
            ("block strategy", { w, _ in w["strategy"] = "block" }, "weights.strategy \"block\" is not supported; supported: group, channel"),
            ("tensor strategy", { w, _ in w["strategy"] = "tensor" }, "weights.strategy \"tensor\" is not supported"),
            ("no strategy, no group size: tensor", { w, _ in w["strategy"] = nil; w["group_size"] = NSNull() }, "weights.strategy \"tensor\" is not supported"),
            ("group without a size", { w, _ in w["group_size"] = NSNull() }, "strategy is group, which needs a positive group_size"),
            ("group size 0", { w, _ in w["group_size"] = 0 }, "weights.group_size is 0"),
            ("channel with a group size", { w, _ in w["strategy"] = "channel" }, "group_size 32 needs strategy group"),
            ("strategy not a string", { w, _ in w["strategy"] = 3 }, "weights.strategy is 3; expected a string"),
            ("group format differs", { _, q in
                var groups = q["config_groups"] as! [String: Any]
                var group = groups["group_0"] as! [String: Any]
                group["format"] = "int-quantized"
                groups["group_0"] = group
                q["config_groups"] = groups
            }, "config_groups.group_0.format is int-quantized, but quantization_config.format is pack-quantized"),
            ("ignore not a list", { _, q in q["ignore"] = "lm_head" }, "quantization_config.ignore is lm_head; expected a list"),
            ("invalid ignore regex", { _, q in q["ignore"] = ["lm_head", "re:model.layers.(0"] }, "quantization_config.ignore[1] \"re:model.layers.(0\" is not a valid regular expression"),
            ("ignore entry not a string", { _, q in q["ignore"] = [7] }, "quantization_config.ignore[0] is 7"),
        ]
        for (name, edit, message) in cases {
            try original.write(to: URL(fileURLWithPath: directory + "/config.json"))
            try Self.edit(directory, edit)
            let error = Self.refusal(directory)
            #expect(error?.message.contains(message) == true, "\(name): \(String(describing: error))")
            #expect(error?.file.hasSuffix("config.json") == true, "\(name)")
        }
        // The strategy inferred from the group size alone, as compressed-tensors infers it.
        try original.write(to: URL(fileURLWithPath: directory + "/config.json"))
        try Self.edit(directory) { w, _ in w["strategy"] = nil }
        _ = try CompressedTensorsStore(directory: directory)
    }

    @Test("a quantized module the ignore list names is refused, naming the module and the entry")
    func ignoredButQuantized() async throws {
        let directory = try await Self.checkpoint(symmetric: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for entry in ["model.layers.1.mlp.up_proj", "re:.*mlp\\.up_proj$", "re:model\\.layers\\.1\\."] {
            try Self.edit(directory) { _, q in q["ignore"] = ["lm_head", entry] }
            let error = Self.refusal(directory)
            #expect(error?.message.contains("stored quantized, but quantization_config.ignore lists it (\"\(entry)\")") == true, "\(String(describing: error))")
            #expect(error?.tensor?.hasPrefix("model.layers.") == true)
        }
        // A pattern matched only in the middle of a name does not match (re.match anchors at the start).
        try Self.edit(directory) { _, q in q["ignore"] = ["lm_head", "re:layers"] }
        _ = try CompressedTensorsStore(directory: directory)
    }

    @Test("symmetric: true over a checkpoint with zero points is refused, not read without them")
    func symmetricWithZeroPoints() async throws {
        let directory = try await Self.checkpoint(symmetric: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try CompressedTensorsStore(directory: directory)
        try Self.edit(directory) { w, _ in w["symmetric"] = true }
        let error = Self.refusal(directory)
        #expect(error?.tensor?.hasSuffix(".weight_zero_point") == true, "\(String(describing: error))")
        #expect(error?.message.contains("symmetric: true") == true)
    }
}
