import CoordinatorCore

extension ParserFuzzing {
    /// A YAML recipe, applied over the defaults and validated as `coordinator quantize --recipe` does.
    @Sendable public static func recipeYAML(_ input: [UInt8]) {
        var recipe = Recipe()
        guard (try? recipe.apply(yaml: String(decoding: input, as: UTF8.self), file: "recipe.yaml")) != nil else { return }
        _ = try? recipe.validate()
    }
}
