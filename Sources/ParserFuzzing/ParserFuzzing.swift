/// Entry points for coverage-guided fuzzing of every parser of untrusted bytes, shared by the
/// libFuzzer driver (`Tests/Fuzz/Driver`, built by `Tests/Fuzz/run.sh`) and the regression tests
/// (`Tests/ParserFuzzingTests`), so that a reproducer replays through exactly the code that found it.
///
/// Each target hands its input to the real parser, as the program would (from bytes where the
/// parser takes bytes, through a scratch file or directory where it takes a path), then uses what
/// came back the way callers do (reads every tensor, encodes a text). A thrown error is a correct
/// answer and is swallowed; only a trap, a memory error, a hang or an allocation beyond the
/// driver's bound is a finding.
public enum ParserFuzzing {
    /// One fuzz target: a name (`Tests/Fuzz/corpus/<name>`, `Reproducers/<name>-…`), the function
    /// that runs one input, and the largest input worth generating.
    public struct Target: Sendable {
        public let name: String
        /// What it parses, for `run.sh`'s report and the docs.
        public let summary: String
        /// libFuzzer's `-max_len`: large enough for the seeds that matter, small enough to stay fast.
        public let maxLength: Int
        public let run: @Sendable ([UInt8]) -> Void
    }

    /// Every target, in the order `run.sh` runs them.
    public static let targets: [Target] = [
        Target(name: "safetensors-header", summary: "SafetensorsHeader(parsing:file:)", maxLength: 4096, run: safetensorsHeader),
        Target(name: "safetensors-file", summary: "SafetensorsFile(path:), every tensor read as Float", maxLength: 16384, run: safetensorsFile),
        Target(name: "shard-index", summary: "ShardIndex(parsing:file:)", maxLength: 4096, run: shardIndex),
        Target(name: "config-json", summary: "ModelConfig(parsing:file:)", maxLength: 4096, run: modelConfig),
        Target(name: "tokenizer-json", summary: "Tokenizer(json:source:), then encode and decode", maxLength: 65536, run: tokenizerJSON),
        Target(name: "tokenizer-config", summary: "Tokenizer.applyConfig(_:file:) of a tokenizer_config.json", maxLength: 4096, run: tokenizerConfig),
        Target(name: "gguf-file", summary: "GGUFFile(path:), GGUFModel, every tensor dequantized, GGUFImport.run", maxLength: 32768, run: ggufFile),
        Target(name: "gguf-dequantize", summary: "Dequantize.floats(_:type:count:file:tensor:) on any block count", maxLength: 4096, run: ggufDequantize),
        Target(name: "hosts-file", summary: "HostsFile.parse(_:path:)", maxLength: 4096, run: hostsFile),
        Target(name: "recipe-yaml", summary: "Recipe.apply(yaml:file:) and validate()", maxLength: 4096, run: recipeYAML),
        Target(name: "data-file", summary: "DataFile.tokens(data:file:tokenizer:) (JSON array, .npy, JSON lines, text), sampling and windows", maxLength: 8192, run: dataFile),
        Target(name: "npy", summary: "TokenFile.ids(_:file:) on .npy bytes", maxLength: 4096, run: npy),
        Target(name: "wire-envelope", summary: "WireCodec.decode of an envelope frame as received", maxLength: 4096, run: wireEnvelope),
        Target(name: "wire-message", summary: "WireCodec.decode with frames that match the envelope's descriptors (every job message decoder)", maxLength: 8192, run: wireMessage),
        Target(name: "compressed-tensors", summary: "CompressedTensorsStore(directory:) (quantization_config + safetensors), every tensor dequantized", maxLength: 16384, run: compressedTensors),
    ]

    /// The target named `name`.
    public static func target(named name: String) -> Target? {
        targets.first { $0.name == name }
    }
}
