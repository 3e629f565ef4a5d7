import Checkpoint
import Foundation
import Testing

@Suite("output directory")
struct OutputDirectoryTests {
    static func makeModel() throws -> String {
        let model = try Fixtures.temporaryDirectory("model")
        for (name, text) in [("config.json", #"{"model_type": "llama", "hidden_size": 8}"#), ("tokenizer.json", "{}"),
                             ("generation_config.json", "{}"), ("model.safetensors", "x"), ("weights.gguf", "x"), (".hidden", "x")] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: model + "/" + name))
        }
        return model
    }

    @Test("copies tokenizer and generation files but not weights, and adds quantization_config")
    func copiesAndConfig() throws {
        let model = try Self.makeModel()
        let out = try OutputDirectory(preparing: try Fixtures.temporaryDirectory("out") + "/new/nested", overwrite: false)
        #expect(try out.copyAuxiliaryFiles(from: model) == ["generation_config.json", "tokenizer.json"])
        try out.writeConfig(from: model, quantizationConfig: ["quant_method": "compressed-tensors"])
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out.file("config.json")))) as! [String: Any]
        #expect(config["hidden_size"] as? Int == 8)
        #expect((config["quantization_config"] as? [String: Any])?["quant_method"] as? String == "compressed-tensors")
    }

    @Test("an existing checkpoint is refused unless overwrite is asked for; other files stay")
    func refusesExisting() throws {
        let path = try Self.makeModel()
        try Data("notes".utf8).write(to: URL(fileURLWithPath: path + "/NOTES.md"))
        let error = #expect(throws: CheckpointError.self) { _ = try OutputDirectory(preparing: path, overwrite: false) }
        #expect(error?.description.contains("already holds a checkpoint (config.json, model.safetensors)") == true, "\(String(describing: error))")
        _ = try OutputDirectory(preparing: path, overwrite: true)
        let left = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        #expect(left == [".hidden", "NOTES.md", "generation_config.json", "tokenizer.json", "weights.gguf"])
    }
}
