import Checkpoint
import Foundation
import GGUF
import ModelConfiguration
import Tensors
import Testing
import Tokenizer

/// The GGUF reader and dequantizers against the `gguf` Python package, and the import against the
/// checkpoint it was converted from (fixtures: Tests/Reference/make_gguf_fixtures.py).
@Suite("GGUF")
struct GGUFTests {
    static func fixture(_ name: String) -> String { Bundle.module.resourcePath! + "/Fixtures/" + name }

    @Test("every tensor type dequantizes bit for bit as the gguf package does",
          arguments: ["plain.f32", "plain.f16", "plain.bf16", "quant.q4_0", "quant.q4_1", "quant.q5_0", "quant.q5_1",
                      "quant.q8_0", "quant.q4_k", "quant.q5_k", "quant.q6_k", "quantized.q4_1"])
    func dequantization(name: String) throws {
        let file = try GGUFFile(path: Self.fixture("types.gguf"))
        let expected = try SafetensorsFile(path: Self.fixture("types.expected.safetensors")).tensor(name)
        let info = try file.info(name)
        #expect(info.shape == expected.shape, "\(name): shape \(info.shape), expected \(expected.shape)")
        let ours = try file.floats(name)
        let theirs = expected.floats()
        let differing = zip(ours, theirs).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(differing == 0, "\(name) (\(info.type.name)): \(differing) of \(theirs.count) values differ")
    }

    @Test("metadata of every value type reads back")
    func metadata() throws {
        let m = try GGUFFile(path: Self.fixture("types.gguf")).metadata
        #expect(m["test.u8"] == .uint8(200) && m["test.i8"] == .int8(-100) && m["test.u16"] == .uint16(60000))
        #expect(m["test.i16"] == .int16(-30000) && m["test.u32"] == .uint32(4_000_000_000) && m["test.i32"] == .int32(-2_000_000_000))
        #expect(m["test.f32"] == .float32(1.5) && m["test.bool"] == .bool(true) && m["test.string"] == .string("héllo wörld"))
        #expect(m["test.u64"] == .uint64(1 << 63 + 5) && m["test.i64"] == .int64(-(1 << 62)) && m["test.f64"] == .float64(-2.25))
        #expect(m["test.strings"] == .array([.string("a"), .string("bc"), .string(""), .string("東京")]))
        #expect(m["test.ints"]?.array?.compactMap(\.int) == [1, 2, 3])
        #expect(m["general.architecture"]?.string == "llama")
    }

    @Test("malformed files give errors naming the fault", arguments: [
        ("file.truncated.gguf", GGUFError.Code.truncated, "tensor \"plain.bf16\" ends at data offset 1536 but the data section has 1184 bytes"),
        ("header.truncated.gguf", .truncated, "a metadata key at byte 89 claims 7 bytes; the file has 3 left"),
        ("header.bad_magic.gguf", .badMagic, "not the GGUF magic"),
        ("header.version_9.gguf", .unsupportedVersion, "GGUF version 9; supported: 2 and 3"),
        ("tensor.unknown_type.gguf", .unknownType, "tensor \"w\" has ggml type 77, which is not supported"),
        ("tensor.past_end.gguf", .truncated, "tensor \"w\" ends at data offset 1048832 but the data section has"),
        ("tensor.misaligned.gguf", .badTensor, "tensor \"w\" starts at data offset 4, not a multiple of the alignment 32"),
    ])
    func malformed(file: String, code: GGUFError.Code, message: String) {
        let error = #expect(throws: GGUFError.self) { _ = try GGUFFile(path: Self.fixture("malformed/" + file)) }
        #expect(error?.code == code, "\(file): \(String(describing: error))")
        #expect(error?.description.contains(message) == true, "\(file): \(String(describing: error))")
    }

    @Test("names map to Hugging Face's")
    func names() {
        #expect(GGUFModel.huggingFaceName("token_embd.weight") == "model.embed_tokens.weight")
        #expect(GGUFModel.huggingFaceName("blk.12.attn_q.weight") == "model.layers.12.self_attn.q_proj.weight")
        #expect(GGUFModel.huggingFaceName("blk.0.ffn_norm.weight") == "model.layers.0.post_attention_layernorm.weight")
        #expect(GGUFModel.huggingFaceName("blk.3.attn_k.bias") == "model.layers.3.self_attn.k_proj.bias")
        #expect(GGUFModel.huggingFaceName("rope_freqs.weight") == nil)
    }

    @Test("the import restores the checkpoint llama.cpp's converter started from, q/k permutation undone")
    func importRoundTrip() throws {
        let out = NSTemporaryDirectory() + "gguf-import-\(UUID().uuidString)"
        let summary = try GGUFImport.run(try GGUFFile(path: Self.fixture("tiny_llama.gguf")), to: out)
        #expect(summary.model.layers == 2 && summary.model.heads == 4 && summary.model.kvHeads == 2 && !summary.model.tiedEmbeddings)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
        let original = try CheckpointReader(path: root + "/ModelTests/Fixtures/llama")
        let imported = try CheckpointReader(path: out)
        #expect(imported.names == original.names)
        for name in original.names {
            #expect(try imported.tensor(name).floats() == original.tensor(name).floats(), "\(name)")
        }
        let config = try ModelConfig(directory: out)
        let source = try ModelConfig(directory: root + "/ModelTests/Fixtures/llama")
        #expect(config.hiddenSize == source.hiddenSize && config.numKeyValueHeads == source.numKeyValueHeads && config.ropeTheta == source.ropeTheta)
        // The tokenizer written from the metadata: merges t+h, th+e; digits split one by one (smollm).
        let tokenizer = try Tokenizer(contentsOf: out)
        #expect(tokenizer.encode("then12") == [96, 77, 16, 17])
        #expect(tokenizer.bosTokenID == 100 && tokenizer.eosTokenID == 99)
    }
}
