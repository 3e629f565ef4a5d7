import CoordinatorCore
import Foundation
import GGUF
import Testing

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
