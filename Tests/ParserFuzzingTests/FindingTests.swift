import CoordinatorCore
import Datasets
import Foundation
import GGUF
import Testing
import Tokenizer

/// What the parsers now say about the faults fuzzing found (the reproducers replay the exact
/// inputs; these pin the errors).
@Suite("parser fuzzing findings")
struct FindingTests {
    @Test("a dequantizer refuses data that does not hold exactly its blocks", arguments: GGMLType.allCases)
    func shortBlocks(_ type: GGMLType) {
        let data = [UInt8](repeating: 0x3C, count: type.blockBytes * 2 - 1)
        #expect(throws: GGUFError.self) {
            _ = try data.withUnsafeBytes { try Dequantize.floats($0, type: type, count: type.blockSize * 2, file: "f.gguf", tensor: "t") }
        }
        let whole = [UInt8](repeating: 0x3C, count: type.blockBytes)
        #expect((try? whole.withUnsafeBytes { try Dequantize.floats($0, type: type, count: type.blockSize, file: "f.gguf", tensor: "t") })?.count == type.blockSize)
    }

    @Test("a .npy shape whose product overflows or exceeds the file is an error naming the shape",
          arguments: ["(4611686018427387904, 4)", "(-2, -3)", "(1000000,)"])
    func npyShapes(_ shape: String) {
        var header = Array("{'descr': '<i4', 'fortran_order': False, 'shape': \(shape), }".utf8)
        while (10 + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        let file = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.count), 0] + header + [1, 0, 0, 0]
        #expect {
            _ = try TokenFile.ids(Data(file), file: "tokens.npy")
        } throws: { error in
            error is DatasetError && "\(error)".contains("tokens.npy") && "\(error)".contains("shape")
        }
    }

    @Test("a base-60 integer beyond Int is an error naming its line; one within it still reads")
    func sexagesimal() throws {
        var recipe = Recipe()
        #expect {
            try recipe.apply(yaml: "method: gptq\nseed: -5656656665556555566:5\n", file: "recipe.yaml")
        } throws: { error in
            "\(error)".contains("recipe.yaml:2:") && "\(error)".contains("base-60")
        }
        try recipe.apply(yaml: "seed: 1:30\n", file: "recipe.yaml")
        #expect(recipe.seed == 90)
    }

    @Test("a vocabulary or added-token id beyond the vocabulary limit is an error naming the field",
          arguments: [#"{"model": {"type": "BPE", "vocab": {"a": 200000000}, "merges": []}}"#,
                      #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 2147483647, "content": "<s>"}]}"#])
    func hugeTokenIDs(_ json: String) {
        #expect {
            _ = try Tokenizer(json: Data(json.utf8))
        } throws: { error in
            error is TokenizerError && "\(error)".contains("0..<16777216")
        }
    }

    @Test("a recipe key that is a sequence or a mapping is an error naming its line",
          arguments: ["bits: 4\n{a: [12]}: 1\n", "bits: 4\n? [bits]\n: 4\n", "{a: 1, [12]: 2}\n"])
    func nonScalarKeys(_ text: String) {
        var recipe = Recipe()
        #expect {
            try recipe.apply(yaml: text, file: "recipe.yaml")
        } throws: { error in
            "\(error)".contains("recipe.yaml:") && "\(error)".contains("as a key")
        }
    }
}
