import CoordinatorCore
import Foundation
import Model
import ModelConfiguration
import Testing

@Suite("the job plan's arithmetic")
struct JobPlanTests {
    /// SmolLM2-135M's shapes.
    static let smolLM2 = try! ModelConfig(parsing: Data("""
        {"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
         "num_key_value_heads": 3, "vocab_size": 49152, "rms_norm_eps": 1e-5, "rope_theta": 100000, "max_position_embeddings": 8192,
         "tie_word_embeddings": true, "torch_dtype": "bfloat16"}
        """.utf8), file: "smollm2.json")

    static func rates(link: Double = 1e9, forward: Double = 100) -> JobPlan.Rates {
        JobPlan.Rates(forwardGFLOPS: forward, statisticsGFLOPS: forward * 0.8, solveGFLOPS: forward * 0.3, factorGFLOPS: 50,
                      packBytesPerSecond: 2.5e9, unpackBytesPerSecond: 2e9, mergeBytesPerSecond: 6e9, memoryBytesPerSecond: 10e9,
                      workerLinkBytesPerSecond: link, coordinatorLinkBytesPerSecond: link, diskBytesPerSecond: 5e8)
    }

    static var recipe: Recipe {
        var recipe = Recipe()
        (recipe.groupSize, recipe.samples, recipe.sequenceLength) = (64, 128, 512)
        return recipe
    }

    @Test("SmolLM2, 128 × 512, 2 workers: the bytes the job bench measured (solve 404.6 MB / 117.4 MB, apply 230.2 MB, capture 519 MB at 5.1 B a sum), within 2 %")
    func smolLM2Traffic() {
        let plan = JobPlan(config: Self.smolLM2, recipe: Self.recipe, workers: 2, rates: Self.rates())
        let layers = 30.0
        for (planned, measured) in [((plan.layerTraffic.sent["solve"] ?? 0) * layers, 404.6e6), ((plan.layerTraffic.received["solve"] ?? 0) * layers, 117.38e6),
                                    ((plan.layerTraffic.sent["apply"] ?? 0) * layers, 230.21e6), ((plan.layerTraffic.received["capture"] ?? 0) * layers, 519.03e6)] {
            #expect(abs(planned - measured) <= 0.02 * measured, "planned \(planned), measured \(measured)")
        }
    }

    @Test("worker compute halves with twice the workers; link time scales inversely with the link; the coordinator receives a copy of the statistics per worker, the codes once")
    func scaling() {
        let one = JobPlan(config: Self.smolLM2, recipe: Self.recipe, workers: 1, rates: Self.rates())
        let two = JobPlan(config: Self.smolLM2, recipe: Self.recipe, workers: 2, rates: Self.rates(), solveWorkers: Int.max)
        let slow = JobPlan(config: Self.smolLM2, recipe: Self.recipe, workers: 2, rates: Self.rates(link: 1e8), solveWorkers: Int.max)
        let work = { (plan: JobPlan, phase: String) in plan.layer.first { $0.name == phase }?.seconds[.workers] ?? 0 }
        #expect(abs(work(two, "apply") * 2 - work(one, "apply")) < 1e-9 * work(one, "apply"))
        let link = { (plan: JobPlan) in plan.layerSecondsByResource[.link] ?? 0 }
        #expect(abs(link(slow) - 10 * link(two)) < 1e-6 * link(slow))
        #expect(abs((two.layerTraffic.received["capture"] ?? 0) - 2 * (one.layerTraffic.received["capture"] ?? 0)) < 1)
        #expect(two.layerTraffic.received["solve"] == one.layerTraffic.received["solve"])
        #expect(two.workerPeakBytes < one.workerPeakBytes)
        #expect(abs(two.layerSeconds - two.layer.reduce(0) { $0 + $1.total }) < 1e-12)
        // Left to the rates, the slow link's solves go to fewer workers: fewer factors on the wire.
        let placed = JobPlan(config: Self.smolLM2, recipe: Self.recipe, workers: 2, rates: Self.rates(link: 1e8))
        #expect(placed.solvers.values.reduce(0, +) < slow.solvers.values.reduce(0, +), "\(placed.solvers) against \(slow.solvers)")
        #expect((placed.layerTraffic.sent["solve"] ?? 0) < (slow.layerTraffic.sent["solve"] ?? 0))
        #expect(placed.layerSeconds < slow.layerSeconds)
    }

    @Test("70B shapes on 8 workers: the coordinator holds every worker's down_proj sums at worst (8 × 28672²/2 × 16 B ≈ 53 GB), which the printout shows")
    func seventyB() throws {
        let config = try ModelConfig(parsing: Data("""
            {"model_type": "llama", "hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80, "num_attention_heads": 64,
             "num_key_value_heads": 8, "vocab_size": 128256, "rms_norm_eps": 1e-5, "rope_theta": 500000, "max_position_embeddings": 131072,
             "tie_word_embeddings": false, "torch_dtype": "bfloat16"}
            """.utf8), file: "70b.json")
        var recipe = Self.recipe
        recipe.sequenceLength = 2048
        let plan = JobPlan(config: config, recipe: recipe, workers: 8, rates: Self.rates(link: 25e9 / 8))
        #expect(plan.coordinatorPeakBytes > 53e9 && plan.coordinatorPeakBytes < 70e9, "\(plan.coordinatorPeakBytes)")
        let table = plan.table()
        #expect(table.contains("80 layers") && table.contains("| capture |") && table.contains("critical path"), "\(table)")
    }

    @Test("factors go to the workers where they are faster (or when told): the coordinator's CPU time falls by the K³ parts, the workers' grows by theirs")
    func factorPlace() {
        var fast = Self.rates()
        fast.workerFactorGFLOPS = 10 * fast.factorGFLOPS
        let here = JobPlan(config: Self.smolLM2, recipe: Self.recipe, workers: 2, rates: fast, factorOn: .coordinator)
        let there = JobPlan(config: Self.smolLM2, recipe: Self.recipe, workers: 2, rates: fast)
        #expect(here.factoredOnWorkers.isEmpty && there.factoredOnWorkers == Set(LayerStage.allCases))
        let cubes = LayerStage.allCases.reduce(0.0) { $0 + pow(Double($1.inputWidth(Self.smolLM2)), 3) }
        let cpu = { (plan: JobPlan) in plan.layerSecondsByResource[.coordinator] ?? 0 }
        let work = { (plan: JobPlan) in plan.layerSecondsByResource[.workers] ?? 0 }
        #expect(abs(cpu(here) - cpu(there) - cubes / (fast.factorGFLOPS * 1e9)) < 1e-9)
        #expect(abs(work(there) - work(here) - cubes / (10 * fast.factorGFLOPS * 1e9)) < 1e-9)
        #expect(there.layerTraffic == here.layerTraffic, "H travels as the factor's bytes")
        var slow = Self.rates()
        slow.workerFactorGFLOPS = fast.factorGFLOPS / 4
        #expect(JobPlan(config: Self.smolLM2, recipe: Self.recipe, workers: 2, rates: slow).factoredOnWorkers.isEmpty)
        #expect(there.table().contains("(factor there)"))
    }

    @Test("rates: bit rates, sizes per second, and a clear refusal")
    func rates() throws {
        #expect(try ByteSize.parseRate("25Gbit") == 25e9 / 8)
        #expect(try ByteSize.parseRate("100Mbit/s") == 100e6 / 8)
        #expect(try ByteSize.parseRate("1.2GB/s") == 1.2e9)
        #expect(try ByteSize.parseRate("500MB") == 500e6)
        let error = #expect(throws: JobError.self) { try ByteSize.parseRate("fast") }
        #expect(error?.description.contains("\"fast\"") == true)
    }
}
