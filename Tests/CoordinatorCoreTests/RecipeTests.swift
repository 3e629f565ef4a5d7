import CoordinatorCore
import Testing

@Suite("recipe")
struct RecipeTests {
    @Test("a YAML recipe sets every field")
    func yaml() throws {
        var recipe = Recipe()
        try recipe.apply(yaml: """
            method: rtn
            bits: 3
            group_size: -1
            sym: false
            act_order: true
            damp: 0.05
            samples: 64
            seq_len: 512
            seed: 7
            ignore: [lm_head, down_proj]
            max_shard_size: 2GiB
            true_sequential: false
            stream_weights: true
            """, file: "r.yaml")
        #expect(recipe.method == .rtn && recipe.bits == 3 && recipe.groupSize == -1 && !recipe.symmetric && recipe.actOrder)
        #expect(recipe.damp == 0.05 && recipe.samples == 64 && recipe.sequenceLength == 512 && recipe.seed == 7)
        #expect(recipe.ignore == ["lm_head", "down_proj"] && recipe.maxShardSize == 2 * 1024 * 1024 * 1024)
        #expect(!recipe.trueSequential && recipe.streamWeights)
        #expect(recipe.ignores("model.layers.0.mlp.down_proj") && recipe.ignores("lm_head") && !recipe.ignores("model.layers.0.mlp.up_proj"))
        try recipe.validate()
    }

    @Test("the AWQ and SmoothQuant fields; auto output loss follows the token count, never the workers")
    func scaling() throws {
        var recipe = Recipe()
        try recipe.apply(yaml: """
            method: awq
            awq_grid: 10
            awq_duo_scaling: false
            awq_clip: false
            awq_gptq: true
            awq_output_loss: samples
            """, file: "r.yaml")
        #expect(recipe.method == .awq && recipe.awqGrid == 10 && !recipe.awqDuoScaling && !recipe.awqClip && recipe.awqGPTQ)
        #expect(recipe.awqOutputLoss == .samples)
        try recipe.validate()
        #expect(Recipe.AWQOutputLoss.auto.resolved(tokens: 2048, columns: 28672) == .samples)
        #expect(Recipe.AWQOutputLoss.auto.resolved(tokens: 65536, columns: 1536) == .gram)
        #expect(Recipe.AWQOutputLoss.gram.resolved(tokens: 10, columns: 1536) == .gram)
        #expect(Recipe.AWQOutputLoss.samples.resolved(tokens: 1 << 20, columns: 64) == .samples)
    }

    @Test("bad recipes name the file, the field and the value", arguments: [
        ("awq_output_loss: fast", "r.yaml: awq_output_loss must be one of auto, gram, samples, found fast"),
        ("bits: four", "r.yaml: bits must be an integer, found four"),
        ("method: awqq", "r.yaml: method must be one of gptq, rtn"),
        ("group-size: 64", "unknown recipe field \"group-size\""),
        ("- a\n- b", "a recipe is a mapping"),
        ("bits: [1", "not valid YAML"),
        ("max_shard_size: lots", "size \"lots\" is not a positive size"),
    ])
    func bad(yaml: String, message: String) {
        var recipe = Recipe()
        let error = #expect(throws: JobError.self) { try recipe.apply(yaml: yaml, file: "r.yaml") }
        #expect(error?.description.contains(message) == true, "got \(String(describing: error))")
    }

    @Test("out-of-range values are refused by validate")
    func ranges() {
        for (change, message) in [({ (r: inout Recipe) in r.bits = 9 }, "bits is 9"), ({ $0.damp = 0 }, "damp is 0.0"), ({ $0.groupSize = 0 }, "group size is 0")] as [((inout Recipe) -> Void, String)] {
            var recipe = Recipe()
            change(&recipe)
            let error = #expect(throws: JobError.self) { try recipe.validate() }
            #expect(error?.description.contains(message) == true)
        }
    }

    @Test("byte sizes in decimal and binary units")
    func sizes() throws {
        #expect(try ByteSize.parse("5GB") == 5_000_000_000)
        #expect(try ByteSize.parse("1.5 GiB") == 1_610_612_736)
        #expect(try ByteSize.parse("4096") == 4096)
        #expect(try ByteSize.parse("500mb") == 500_000_000)
        #expect(throws: JobError.self) { try ByteSize.parse("-1GB") }
        #expect(ByteSize.describe(1_234_567_890) == "1.23 GB")
    }
}
