import Checkpoint
import CoordinatorCore
import JobProtocol
import Model
import ModelConfiguration
import Testing

/// The layer plans, read without workers: which steps each recipe takes, in which order.
@Suite("layer plans")
struct LayerPlanTests {
    /// The random llama (4 heads, 2 kv heads: grouped-query attention) and its MHA twin.
    static let gqa = try! ModelConfig(directory: InProcessJobTests.model("llama"))
    static let mha = try! ModelConfig(directory: ScalingJobTests.mha)

    static func plan(_ recipe: Recipe, _ config: ModelConfig = gqa, ignored: Set<LayerStage> = []) -> LayerPlan {
        LayerPlan(recipe: recipe, config: config) { !ignored.contains($0) }
    }

    static func steps(_ recipe: Recipe, _ config: ModelConfig = gqa, ignored: Set<LayerStage> = []) -> [String] {
        plan(recipe, config, ignored: ignored).steps.map(\.description)
    }

    @Test("true-sequential GPTQ: per stage, capture, quantize, apply")
    func trueSequential() {
        #expect(Self.steps(Recipe()) == [
            "load", "capture qkv", "quantize qkv gptq", "apply qkv", "capture o", "quantize o gptq", "apply o",
            "capture gate_up", "quantize gate_up gptq", "apply gate_up", "capture down", "quantize down gptq", "apply down", "write",
        ])
    }

    @Test("SmoothQuant smooths the two stages fed by a norm, after their capture and before their solve")
    func smoothQuant() {
        var recipe = Recipe()
        recipe.smoothQuant = 0.5
        recipe.method = .rtn
        #expect(Self.steps(recipe) == [
            "load", "capture qkv", "smooth qkv", "quantize qkv rtn", "apply qkv", "capture o", "quantize o rtn", "apply o",
            "capture gate_up", "smooth gate_up", "quantize gate_up rtn", "apply gate_up", "capture down", "quantize down rtn", "apply down", "write",
        ])
        recipe.trueSequential = false
        #expect(Self.steps(recipe) == [
            "load", "capture qkv+o+gate_up+down", "smooth qkv", "quantize qkv rtn", "quantize o rtn", "smooth gate_up", "quantize gate_up rtn",
            "quantize down rtn", "apply qkv", "apply o", "apply gate_up", "apply down", "write",
        ])
    }

    @Test("AWQ: capture all, search each group that exists, fold, quantize all (RTN clips all but q and k), apply all")
    func awq() {
        var recipe = Recipe()
        recipe.method = .awq
        let searches = ["search attentionInput", "search mlpInput", "search mlpOutput"]
        let tail = ["fold", "quantize qkv rtn clip [2]", "quantize o rtn clip [0]", "quantize gate_up rtn clip [0, 1]", "quantize down rtn clip [0]",
                    "apply qkv", "apply o", "apply gate_up", "apply down", "write"]
        #expect(Self.steps(recipe) == ["load", "capture qkv+o+gate_up+down"] + searches + tail)
        #expect(Self.plan(recipe).notes.count == 1 && Self.plan(recipe).notes[0].contains("grouped-query attention"))
        // Without grouped-query attention v → o is searched; an ignored down_proj is not.
        #expect(Self.steps(recipe, Self.mha, ignored: [.down]) == ["load", "capture qkv+o+gate_up+down",
                                                                   "search attentionInput", "search attentionOutput", "search mlpInput"] + tail)
        #expect(Self.plan(recipe, Self.mha).notes.isEmpty)
        recipe.awqGPTQ = true
        #expect(Self.steps(recipe).contains("quantize qkv gptq") && !Self.steps(recipe).contains { $0.contains("clip") })
        recipe.awqGPTQ = false
        recipe.awqClip = false
        #expect(!Self.steps(recipe).contains { $0.contains("clip") })
    }

    @Test("every plan loads first, writes last, and applies each stage once after quantizing it",
          arguments: [Recipe.Method.gptq, .rtn, .awq], [true, false])
    func invariants(method: Recipe.Method, trueSequential: Bool) {
        var recipe = Recipe()
        recipe.method = method
        recipe.trueSequential = trueSequential
        let steps = Self.plan(recipe).steps
        #expect(steps.first == .load && steps.last == .write)
        for stage in LayerStage.allCases {
            let quantized = steps.firstIndex { if case .quantize(stage, _, _) = $0 { true } else { false } }
            let applied = steps.firstIndex(of: .apply(stage))
            let captured = steps.firstIndex { if case .capture(let stages) = $0 { stages.contains(stage) } else { false } }
            #expect(captured != nil && quantized != nil && applied != nil, "\(stage)")
            if let captured, let quantized, let applied { #expect(captured < quantized && quantized < applied, "\(stage)") }
            #expect(steps.filter { $0 == .apply(stage) }.count == 1)
        }
    }
}
