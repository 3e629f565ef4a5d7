import ArgumentParser
import CoordinatorCore

/// The recipe on the command line: `--recipe FILE` and a flag per recipe field (names, help and
/// meaning from `Recipe.fields`; RecipeFieldTests checks every field against its YAML form).
/// Shared by the commands that take a recipe (`quantize`, `plan`).
struct RecipeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("YAML recipe with the fields below (\(Recipe.fields.map(\.key).joined(separator: ", ")))."))
    var recipe: String?

    // The recipe's fields: names, help and meaning from `Recipe.fields` (makeRecipe maps each to
    // its key; RecipeFieldTests checks every field against its YAML form).
    @Option(help: Self.help("method")) var method: String?
    @Option(help: Self.help("bits")) var bits: Int?
    @Option(parsing: .unconditional, help: Self.help("group_size")) var groupSize: Int?
    @Flag(help: Self.help("sym")) var symmetry: Symmetry?
    @Flag(help: Self.help("act_order")) var actOrder = false
    @Option(help: Self.help("damp")) var damp: Double?
    @Option(help: Self.help("samples")) var samples: Int?
    @Option(help: Self.help("seq_len")) var seqLen: Int?
    @Option(help: Self.help("seed")) var seed: Int?
    @Option(help: Self.help("ignore")) var ignore: [String] = []
    @Option(help: Self.help("max_shard_size")) var maxShardSize: String?
    @Flag(help: Self.help("true_sequential")) var noTrueSequential = false
    @Flag(help: Self.help("stream_weights")) var streamWeights = false
    @Option(help: Self.help("awq_grid")) var awqGrid: Int?
    @Flag(help: Self.help("awq_gptq")) var awqGptq = false
    @Option(help: Self.help("awq_output_loss")) var awqOutputLoss: String?
    @Flag(help: Self.help("awq_duo_scaling")) var noAwqDuoScaling = false
    @Flag(help: Self.help("awq_clip")) var noAwqClip = false
    @Option(help: Self.help("smoothquant")) var smoothquant: Double?
    @Option(help: Self.help("act_bits")) var actBits: Int?

    enum Symmetry: String, EnumerableFlag {
        case sym, asym
    }

    static func help(_ key: String) -> ArgumentHelp {
        ArgumentHelp(Recipe.field(key)?.help ?? "")
    }

    /// The recipe fields given on the command line, as (YAML key, value).
    func givenFields() throws -> [(String, RecipeValue)] {
        var given: [(String, RecipeValue)] = []
        func add(_ key: String, _ value: RecipeValue?) { if let value { given.append((key, value)) } }
        add("method", method.map(RecipeValue.text))
        add("bits", bits.map(RecipeValue.integer))
        add("group_size", groupSize.map(RecipeValue.integer))
        add("sym", symmetry.map { .flag($0 == .sym) })
        add("act_order", actOrder ? .flag(true) : nil)
        add("damp", damp.map(RecipeValue.number))
        add("samples", samples.map(RecipeValue.integer))
        add("seq_len", seqLen.map(RecipeValue.integer))
        add("seed", seed.map(RecipeValue.integer))
        add("ignore", ignore.isEmpty ? nil : .list(ignore))
        add("max_shard_size", try maxShardSize.map { .integer(try ByteSize.parse($0)) })
        add("true_sequential", noTrueSequential ? .flag(false) : nil)
        add("stream_weights", streamWeights ? .flag(true) : nil)
        add("awq_grid", awqGrid.map(RecipeValue.integer))
        add("awq_gptq", awqGptq ? .flag(true) : nil)
        add("awq_output_loss", awqOutputLoss.map(RecipeValue.text))
        add("awq_duo_scaling", noAwqDuoScaling ? .flag(false) : nil)
        add("awq_clip", noAwqClip ? .flag(false) : nil)
        add("smoothquant", smoothquant.map(RecipeValue.number))
        add("act_bits", actBits.map(RecipeValue.integer))
        return given
    }

    /// The recipe: defaults, then the YAML file, then the flags given.
    func makeRecipe() throws -> Recipe {
        var recipe = Recipe()
        if let path = self.recipe { try recipe.apply(yamlFile: path) }
        for (key, value) in try givenFields() { try recipe.set(key, value, source: "the command line") }
        try recipe.validate()
        return recipe
    }
}
