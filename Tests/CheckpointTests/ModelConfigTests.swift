import Checkpoint
import Foundation
import ModelConfiguration
import Tensors
import Testing

@Suite("model config")
struct ModelConfigTests {
    static func parse(_ json: String) throws -> ModelConfig {
        try ModelConfig(parsing: Data(json.utf8), file: "config.json")
    }

    static let llama31 = """
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256, "hidden_size": 4096,
         "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
         "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "max_position_embeddings": 131072, "hidden_act": "silu",
         "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         "tie_word_embeddings": false, "torch_dtype": "bfloat16", "attention_bias": false, "mlp_bias": false}
        """

    @Test("Llama 3.1 config with llama3 rope scaling")
    func llama() throws {
        let config = try Self.parse(Self.llama31)
        #expect(config.modelType == .llama)
        #expect(config.headDim == 128 && config.numKeyValueHeads == 8 && config.keyValueWidth == 1024)
        #expect(config.ropeTheta == 500000 && config.rmsNormEps == 1e-5)
        #expect(config.ropeScaling == .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositionEmbeddings: 8192))
        #expect(config.torchDtype == .bf16 && !config.tieWordEmbeddings && !config.qkvBias)
    }

    @Test("Qwen2 always has q/k/v bias; Qwen3 has q/k norms and an explicit head_dim")
    func qwen() throws {
        let qwen2 = try Self.parse("""
            {"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
             "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "rope_theta": 1000000.0,
             "tie_word_embeddings": true, "torch_dtype": "bfloat16", "use_sliding_window": false, "sliding_window": 32768}
            """)
        #expect(qwen2.qkvBias && !qwen2.oProjBias && !qwen2.qkNorm && qwen2.headDim == 64 && qwen2.tieWordEmbeddings)
        #expect(qwen2.slidingWindow == nil)
        let qwen3 = try Self.parse("""
            {"model_type": "qwen3", "vocab_size": 151936, "hidden_size": 1024, "intermediate_size": 3072, "head_dim": 128,
             "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "attention_bias": false,
             "rope_scaling": null, "dtype": "bfloat16"}
            """)
        #expect(qwen3.qkNorm && !qwen3.qkvBias && qwen3.headDim == 128 && qwen3.queryWidth == 2048)
        #expect(qwen3.ropeScaling == .none && qwen3.torchDtype == .bf16)
    }

    @Test("transformers 5 rope_parameters are read")
    func ropeParameters() throws {
        let config = try Self.parse("""
            {"model_type": "mistral", "vocab_size": 32000, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "sliding_window": 4096, "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}}
            """)
        #expect(config.ropeTheta == 1_000_000 && config.ropeScaling == .none && config.slidingWindow == 4096)
        #expect(config.numKeyValueHeads == 4, "num_key_value_heads defaults to the head count")
    }

    @Test("bad configs name the field, what was expected and what was found", arguments: [
        (#"{"model_type": "gpt2"}"#, "model_type \"gpt2\" is not supported; supported: llama, mistral, qwen2, qwen3"),
        (#"{"model_type": "llama", "vocab_size": 10}"#, "missing \"hidden_size\""),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": -4}"#, "\"hidden_size\" must be a positive integer, found -4"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 6, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 4}"#,
         "hidden_size 6 is not divisible by num_attention_heads 4"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 3}"#,
         "not a multiple of num_key_value_heads 3"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "rope_scaling": {"rope_type": "yarn", "factor": 4}}"#,
         "rope scaling \"yarn\" is not supported"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "hidden_act": "gelu"}"#,
         "hidden_act \"gelu\" is not supported"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "tie_word_embeddings": "yes"}"#,
         "\"tie_word_embeddings\" must be true or false"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "rope_theta": 0}"#,
         "\"rope_theta\" must be a finite positive number, found 0"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "rope_theta": -1}"#,
         "\"rope_theta\" must be a finite positive number, found -1"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "rope_parameters": {"rope_type": "default", "rope_theta": 0}}"#,
         "\"rope_theta\" must be a finite positive number"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "rms_norm_eps": -1}"#,
         "\"rms_norm_eps\" must be a finite non-negative number, found -1"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 4611686018427387904, "num_hidden_layers": 1, "num_attention_heads": 2}"#,
         "\"intermediate_size\" must be a positive integer of at most 1048576"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 2147483648, "num_hidden_layers": 1, "num_attention_heads": 2}"#,
         "\"intermediate_size\" must be a positive integer of at most 1048576"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 4096, "head_dim": 16384}"#,
         "num_attention_heads 4096 × head_dim 16384 is more than 1048576"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "head_dim": 4294967296}"#,
         "\"head_dim\" must be a positive integer of at most 16384"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 4, "high_freq_factor": 4, "original_max_position_embeddings": 8192}}"#,
         "\"high_freq_factor\" must be a finite number above low_freq_factor 4"),
        (#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "rope_scaling": {"rope_type": "llama3", "factor": 0, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}}"#,
         "\"factor\" must be a finite positive number"),
        ("[1, 2]", "is not a JSON object"),
    ])
    func badConfig(json: String, message: String) {
        let error = #expect(throws: ConfigError.self) { _ = try Self.parse(json) }
        #expect(error?.description.contains(message) == true, "got: \(String(describing: error))")
        #expect(error?.file == "config.json")
    }
}
