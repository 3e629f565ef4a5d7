import ArgumentParser
@testable import CoordinatorCLI
import CoordinatorCore
import Testing

/// `Recipe.fields` against the command line: every field has its flags and help in `--help`, and
/// setting it on the command line gives the recipe its YAML form gives.
@Suite("recipe fields on the command line")
struct RecipeFieldTests {
    /// Per YAML key: a YAML line and the command-line arguments meaning the same, both away from
    /// the defaults. A field added to `Recipe.fields` without an entry here fails `everyField`.
    static let examples: [String: (yaml: String, arguments: [String])] = [
        "method": ("method: rtn", ["--method", "rtn"]),
        "bits": ("bits: 3", ["--bits", "3"]),
        "group_size": ("group_size: -1", ["--group-size", "-1"]),
        "sym": ("sym: false", ["--asym"]),
        "act_order": ("act_order: true", ["--act-order"]),
        "damp": ("damp: 0.05", ["--damp", "0.05"]),
        "samples": ("samples: 64", ["--samples", "64"]),
        "seq_len": ("seq_len: 512", ["--seq-len", "512"]),
        "seed": ("seed: 7", ["--seed", "7"]),
        "ignore": ("ignore: [lm_head, down_proj]", ["--ignore", "lm_head", "--ignore", "down_proj"]),
        "max_shard_size": ("max_shard_size: 2GiB", ["--max-shard-size", "2GiB"]),
        "true_sequential": ("true_sequential: false", ["--no-true-sequential"]),
        "stream_weights": ("stream_weights: true", ["--stream-weights"]),
        "awq_grid": ("awq_grid: 10", ["--awq-grid", "10"]),
        "awq_duo_scaling": ("awq_duo_scaling: false", ["--no-awq-duo-scaling"]),
        "awq_clip": ("awq_clip: false", ["--no-awq-clip"]),
        "awq_gptq": ("awq_gptq: true", ["--awq-gptq"]),
        "awq_output_loss": ("awq_output_loss: gram", ["--awq-output-loss", "gram"]),
        "smoothquant": ("smoothquant: 0.5", ["--smoothquant", "0.5"]),
        "act_bits": ("act_bits: 8", ["--act-bits", "8"]),
    ]

    static let required = ["--model", "m", "--calib", "c", "--out", "o"]

    /// The recipe the command line makes of `arguments`, without validation (single fields
    /// such as act_bits alone are not valid recipes).
    static func commandLine(_ arguments: [String]) throws -> Recipe {
        let command = try Quantize.parse(required + arguments)
        var recipe = Recipe()
        for (key, value) in try command.recipeOptions.givenFields() { try recipe.set(key, value, source: "the command line") }
        return recipe
    }

    @Test("every field has an example, and nothing else does")
    func everyField() {
        #expect(Set(Recipe.fields.map(\.key)) == Set(Self.examples.keys))
        #expect(Recipe.fields.count == Set(Recipe.fields.map(\.key)).count, "a key appears twice")
    }

    @Test("each field set on the command line gives what its YAML form gives", arguments: Recipe.fields.map(\.key))
    func agrees(key: String) throws {
        let example = try #require(Self.examples[key])
        var fromYAML = Recipe()
        try fromYAML.apply(yaml: example.yaml, file: "r.yaml")
        let fromFlags = try Self.commandLine(example.arguments)
        #expect(fromFlags == fromYAML, "\(key)")
        #expect(fromYAML != Recipe(), "\(key): the example must change the recipe")
        // The example's flags are the field's.
        let field = try #require(Recipe.field(key))
        #expect(example.arguments.contains { field.flags.contains($0) }, "\(key): \(example.arguments) use none of \(field.flags)")
    }

    @Test("--help shows every field's flags and help text")
    func help() {
        let help = Quantize.helpMessage(columns: 1000)
        for field in Recipe.fields {
            for flag in field.flags { #expect(help.contains(flag), "\(flag) missing from --help") }
            #expect(help.contains(field.help), "\(field.key)'s help text missing from --help")
            #expect(help.contains(field.key), "\(field.key) missing from --recipe's list")
        }
    }

    @Test("activation bits imply per-channel weights unless a group size is given, in either order and either source")
    func activationBitsImplyPerChannel() throws {
        #expect(try Self.commandLine(["--act-bits", "8"]).groupSize == -1)
        #expect(try Self.commandLine(["--act-bits", "8", "--group-size", "64"]).groupSize == 64)
        var yaml = Recipe()
        try yaml.apply(yaml: "act_bits: 8\nbits: 8\nsmoothquant: 0.5", file: "r.yaml")
        #expect(yaml.groupSize == -1)
        try yaml.validate()
        var given = Recipe()
        try given.apply(yaml: "group_size: 32\nact_bits: 8", file: "r.yaml")
        #expect(given.groupSize == 32)
        #expect(throws: JobError.self) { try given.validate() }
    }

    @Test("a value a field does not take is refused on the command line, naming the field")
    func badValues() throws {
        let error = #expect(throws: JobError.self) { try Self.commandLine(["--method", "fast"]) }
        #expect(error?.description == "the command line: method must be one of gptq, rtn, awq, found fast")
        #expect(throws: JobError.self) { try Self.commandLine(["--seed=-3"]) }
    }
}
