import Checkpoint
import CoordinatorCore
import Foundation
import ModelConfiguration
import Testing

@Suite("planning")
struct PlanningTests {
    @Test("samples split in proportion to capacity, contiguous, covering everything", arguments: [
        (128, [1], [0..<128]),
        (128, [1, 1], [0..<64, 64..<128]),
        (128, [1, 1, 1], [0..<43, 43..<86, 86..<128]),
        (10, [2, 1, 1], [0..<5, 5..<8, 8..<10]),
        (2, [1, 1, 1], [0..<1, 1..<2, 2..<2]),
    ])
    func shards(samples: Int, capacities: [Int], expected: [Range<Int>]) {
        #expect(SampleShards.split(samples: samples, capacities: capacities) == expected)
    }

    @Test("shards are whole blocks of samples, the last one possibly short")
    func blockShards() {
        #expect(SampleShards.split(samples: 10, capacities: [1, 1], block: 4) == [0..<8, 8..<10], "3 blocks: 2 and 1")
        #expect(SampleShards.split(samples: 128, capacities: [1, 1, 1], block: 4) == [0..<44, 44..<88, 88..<128])
        #expect(SampleShards.split(samples: 3, capacities: [1, 1], block: 4) == [0..<3, 3..<3])
    }

    @Test("every row of every matrix is solved exactly once, and big matrices are split")
    func solveCoverage() {
        let matrices = [
            SolvePlan.Matrix(rows: 8192, columns: 8192), SolvePlan.Matrix(rows: 1024, columns: 8192),  // q, k
            SolvePlan.Matrix(rows: 8192, columns: 28672), SolvePlan.Matrix(rows: 3, columns: 5),  // down, a tiny one
        ]
        for workers in 1...5 {
            let plan = SolvePlan(matrices: matrices, workers: workers, rowAlignment: 256)
            for (index, matrix) in matrices.enumerated() {
                let ranges = plan.pieces.filter { $0.matrix == index }.map(\.rows).sorted { $0.lowerBound < $1.lowerBound }
                #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == matrix.rows)
                #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "matrix \(index) with \(workers) workers")
            }
            #expect(plan.pieces.allSatisfy { (0..<workers).contains($0.worker) && $0.rows.lowerBound % 256 == 0 })
            if workers > 1 {
                #expect(plan.pieces.filter { $0.matrix == 2 }.count > 1, "down_proj dominates and is split")
                #expect(plan.imbalance <= 1.25, "\(workers) workers: imbalance \(plan.imbalance)")
            }
            #expect(plan == SolvePlan(matrices: matrices, workers: workers, rowAlignment: 256), "deterministic")
        }
    }
}

@Suite("job cost")
struct JobCostTests {
    @Test("SmolLM2-135M at 128 × 512 tokens costs ≈ 2.2e13 FLOP, as DESIGN.md estimates")
    func smolLM2() throws {
        let config = try ModelConfig(parsing: Data("""
            {"model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
             "num_attention_heads": 9, "num_key_value_heads": 3}
            """.utf8), file: "config.json")
        let cost = JobCost(config: config, samples: 128, sequenceLength: 512)
        // Linears: 2·(576·(576+384) + 576² + 3·576·1536) = 7.08e6 per token-layer; × 65536 tokens × 30 layers.
        #expect(abs(cost.forwardFLOPs / (30 * 65536 * 7_077_888 + 30 * 2 * 2 * 576 * (512.0 * 513 / 2) * 128) - 1) < 1e-12)
        #expect(cost.totalFLOPs > 1.9e13 && cost.totalFLOPs < 2.4e13, "\(cost.totalFLOPs)")
        #expect(abs(cost.seconds(atGFLOPS: 100) - cost.totalFLOPs / 1e11) < 1e-9)
    }
}
