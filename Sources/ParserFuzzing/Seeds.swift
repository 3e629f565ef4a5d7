import Checkpoint
import Foundation
import Formats
import GGUF
import Kernels
import Tensors
import Wire

/// The seed corpus of each target: the repository's own fixtures that the target parses
/// (`fixtures(for:root:)`), and inputs built here for the parsers without fixture files
/// (`generated(for:)`). `Tests/Fuzz/run.sh` writes them into `Tests/Fuzz/corpus/<target>/seed-*`
/// through the driver; `ParserFuzzingTests` replays them all.
public enum Seeds {
    /// A named seed.
    public struct Seed: Sendable {
        public let name: String
        public let bytes: [UInt8]
    }

    /// Every seed of `target`: fixtures under `root` (the repository), then the generated ones.
    public static func all(for target: String, root: String) -> [Seed] {
        fixtures(for: target, root: root) + generated(for: target)
    }

    /// Fixture files under `root/Tests/*/Fixtures` that `target` parses, as seeds no longer than
    /// its `maxLength` (the start of a safetensors file for the header target), in path order.
    public static func fixtures(for target: String, root: String) -> [Seed] {
        guard let limit = ParserFuzzing.target(named: target)?.maxLength else { return [] }
        let tests = (root as NSString).appendingPathComponent("Tests")
        guard let enumerator = FileManager.default.enumerator(atPath: tests) else { return [] }
        var seeds: [Seed] = []
        while let relative = enumerator.nextObject() as? String {
            guard relative.contains("/Fixtures/"), accepts(target, relative),
                  let data = FileManager.default.contents(atPath: (tests as NSString).appendingPathComponent(relative)) else { continue }
            let bytes = target == "safetensors-header" ? safetensorsHeaderPart([UInt8](data)) : [UInt8](data)
            guard bytes.count <= limit else { continue }
            seeds.append(Seed(name: "fixture-" + relative.replacingOccurrences(of: "/", with: "_"), bytes: bytes))
        }
        return seeds.sorted { $0.name < $1.name }
    }

    /// Whether the fixture at `path` (relative to Tests/) is input for `target`.
    static func accepts(_ target: String, _ path: String) -> Bool {
        let name = (path as NSString).lastPathComponent
        switch target {
        case "safetensors-header", "safetensors-file": return name.hasSuffix(".safetensors")
        case "shard-index": return name.hasSuffix(".index.json")
        case "config-json": return name == "config.json"
        case "tokenizer-json": return path.hasPrefix("TokenizerTests/Fixtures/tokenizers/")
        case "gguf-file": return name.hasSuffix(".gguf")
        case "data-file": return name == "eval_tokens.json" || path.hasPrefix("TokenizerTests/Fixtures/text/")
        default: return false
        }
    }

    /// The first 8 + N bytes of a safetensors file (its header), or all of it when N is garbage.
    static func safetensorsHeaderPart(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= 8 else { return bytes }
        let length = bytes[0..<8].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        return length <= UInt64(bytes.count - 8) ? Array(bytes[0..<(8 + Int(length))]) : bytes
    }

    /// Inputs built in code for `target`.
    public static func generated(for target: String) -> [Seed] {
        let inputs: [(String, [UInt8])]
        switch target {
        case "safetensors-header", "safetensors-file": inputs = [("small", safetensors(smallTensors))]
        case "tokenizer-json": inputs = [("small", SmallTokenizer.json)]
        case "tokenizer-config": inputs = tokenizerConfigs
        case "gguf-dequantize": inputs = dequantizeBlocks
        case "hosts-file": inputs = hostsFiles
        case "recipe-yaml": inputs = recipes
        case "data-file": inputs = dataFiles
        case "npy": inputs = npyFiles.map { ($0.0, Array($0.1.dropFirst(ParserFuzzing.npyMagic.count))) }
        case "wire-envelope": inputs = WireSamples.messages.enumerated().map { ("message-\($0.offset)", bytes($0.element[0])) }
        case "wire-message":
            inputs = WireSamples.messages.enumerated().map { index, frames in
                ("message-\(index)", InputParts.joined(bytes(frames[0]), frames.dropFirst().flatMap(bytes)))
            }
        case "compressed-tensors": inputs = compressedTensorsCheckpoints
        default: inputs = []
        }
        return inputs.map { Seed(name: "generated-\($0.0)", bytes: $0.1) }
    }

    static func bytes(_ storage: TensorStorage) -> [UInt8] {
        withExtendedLifetime(storage) { Array(storage.bytes) }
    }

    // MARK: Built inputs

    static let smallTensors: [String: Tensor] = [
        "a": Tensor(floats: [1, -2, 3.5, 0], shape: [2, 2], dtype: .bf16),
        "b": Tensor.integers([7, -1, 3] as [Int64], dtype: .i64, shape: [3]),
        "c": Tensor(floats: [0.25], shape: [], dtype: .f16),
    ]

    /// The bytes `SafetensorsWriter.write` would put in a file.
    static func safetensors(_ tensors: [String: Tensor], metadata: [String: String] = ["format": "pt"]) -> [UInt8] {
        let (header, order) = SafetensorsWriter.header(for: tensors, metadata: metadata)
        return header + order.flatMap { name in tensors[name]!.withUnsafeBytes { Array($0) } }
    }

    static let tokenizerConfigs: [(String, [UInt8])] = [
        ("strings", #"{"bos_token": "<s>", "eos_token": "</s>", "model_max_length": 2048}"#),
        ("objects", #"{"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": {"content": "</s>"}}"#),
        ("unknown", #"{"bos_token": "<|begin_of_text|>"}"#),
        ("empty", "{}"),
    ].map { ($0.0, Array($0.1.utf8)) }

    /// One whole block of each type with a count of one block, and the same count over a block cut short.
    static var dequantizeBlocks: [(String, [UInt8])] {
        GGMLType.allCases.enumerated().flatMap { index, type -> [(String, [UInt8])] in
            let count = type.blockSize * 2
            let block = (0..<(type.blockBytes * 2)).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 3) }
            let head: [UInt8] = [UInt8(index), UInt8(count & 0xFF), UInt8(count >> 8)]
            return [(type.name, head + block), ("\(type.name)-short", head + block.dropLast(type.blockBytes / 2 + 1))]
        }
    }

    static let hostsFiles: [(String, [UInt8])] = [
        ("plain", "# workers\nnode-1:5555\nnode-2:5555 slots=4\n\n[::1]:6000\n"),
        ("schemes", "tcp://10.0.0.7:7000 slots=2 # two\nipc:///tmp/worker.sock\n"),
        ("keys", "node-3:5555 key=rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\nnode-4:5555 slots=2 keys=keys\n"),
    ].map { ($0.0, Array($0.1.utf8)) }

    static let recipes: [(String, [UInt8])] = [
        ("gptq", "method: gptq\nbits: 4\ngroup_size: 128\nsymmetric: true\nact_order: true\ndamp: 0.01\n"),
        ("awq", "method: awq\nbits: 4\ngroup_size: 64\nsymmetric: false\nignore: [lm_head, model.layers.0.mlp.down_proj]\n"),
        ("sizes", "method: rtn\nbits: 8\ngroup_size: -1\nmax_shard_size: 5GB\n"),
        ("odd", "bits: four\nunknown_key: {a: [1, 2]}\n"),
    ].map { ($0.0, Array($0.1.utf8)) }

    /// `np.save` of int32 [[1, 2, 3], [4, 5, 6]] (version 1.0), and int64 and uint16 1-D arrays (2.0).
    static var npyFiles: [(String, [UInt8])] {
        func file(major: UInt8, descr: String, shape: String, values: [Int], width: Int) -> [UInt8] {
            var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
            let prefix = ParserFuzzing.npyMagic.count + 2 + (major == 1 ? 2 : 4)
            while (prefix + header.count + 1) % 64 != 0 { header.append(0x20) }
            header.append(0x0A)
            let length = (0..<(major == 1 ? 2 : 4)).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) }
            let data = values.flatMap { value in (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
            return ParserFuzzing.npyMagic + [major, 0] + length + header + data
        }
        return [
            ("int32", file(major: 1, descr: "<i4", shape: "(2, 3)", values: [1, 2, 3, 4, 5, 6], width: 4)),
            ("int64", file(major: 2, descr: "<i8", shape: "(4,)", values: [9, 8, 7, 6], width: 8)),
            ("uint16", file(major: 3, descr: "<u2", shape: "(3,)", values: [256, 1, 0], width: 2)),
        ]
    }

    static var dataFiles: [(String, [UInt8])] {
        [
            ("ids", Array("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]".utf8)),
            ("jsonl", Array("{\"text\": \"the theory\"}\n\n{\"text\": \"hello there <s> ok\"}\n{\"text\": \"\"}\n".utf8)),
            ("text", Array("the quick brown fox jumps over the lazy dog, the end.\n".utf8)),
        ] + npyFiles
    }

    /// A pack-quantized (4-bit, groups of 8, with g_idx) and an int-quantized (8-bit per channel,
    /// W8A8) checkpoint of one linear beside a plain tensor, as the quantize command writes them.
    static var compressedTensorsCheckpoints: [(String, [UInt8])] {
        let module = "model.layers.0.mlp.down_proj"
        func checkpoint(_ scheme: QuantizationScheme, activationBits: Int?) -> [UInt8] {
            let (rows, columns) = (2, 16)
            let groups = scheme.groupSize == -1 ? 1 : columns / scheme.groupSize
            // Cannot throw: sizes and codes fit the scheme.
            let weights = try! QuantizedWeights(
                scheme: scheme, rows: rows, columns: columns, codes: (0..<(rows * columns)).map { Int8($0 % 5) - 2 },
                scales: (0..<(rows * groups)).map { 0.5 + Float($0) }, zeroPoints: Array(repeating: 0, count: rows * groups),
                groupIndex: (0..<columns).map { Int32($0 * groups / columns) })
            let packed = activationBits == nil ? CompressedTensorsPacking.pack(weights) : try! IntQuantizedPacking.pack(weights)
            var tensors = Dictionary(uniqueKeysWithValues: packed.map { ("\(module).\($0.key)", $0.value) })
            tensors["model.norm.weight"] = Tensor(floats: [1, 1], shape: [2], dtype: .bf16)
            let config: [String: Any] = [
                "model_type": "llama",
                "quantization_config": CompressedTensorsConfig.quantizationConfig(weights: scheme, staticActOrder: false, activationBits: activationBits, ignore: ["lm_head"]),
            ]
            // Cannot fail: JSON values only.
            let json = [UInt8](try! JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]))
            return InputParts.joined(json, safetensors(tensors))
        }
        // Cannot throw: valid literals.
        return [
            ("pack-quantized", checkpoint(try! QuantizationScheme(bits: 4, symmetric: true, groupSize: 8), activationBits: nil)),
            ("int-quantized", checkpoint(try! QuantizationScheme(bits: 8, symmetric: true, groupSize: -1), activationBits: 8)),
        ]
    }
}
