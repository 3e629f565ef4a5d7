import CoordinatorCore
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

    @Test("every row of every matrix is solved exactly once, and big matrices are split")
    func solveCoverage() {
        let matrices = [
            SolvePlan.Matrix(name: "q", rows: 8192, columns: 8192), SolvePlan.Matrix(name: "k", rows: 1024, columns: 8192),
            SolvePlan.Matrix(name: "down", rows: 8192, columns: 28672), SolvePlan.Matrix(name: "tiny", rows: 3, columns: 5),
        ]
        for workers in 1...5 {
            let plan = SolvePlan(matrices: matrices, workers: workers, rowAlignment: 256)
            for matrix in matrices {
                let ranges = plan.pieces.filter { $0.matrix == matrix.name }.map(\.rows).sorted { $0.lowerBound < $1.lowerBound }
                #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == matrix.rows)
                #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "\(matrix.name) with \(workers) workers")
            }
            #expect(plan.pieces.allSatisfy { (0..<workers).contains($0.worker) && $0.rows.lowerBound % 256 == 0 })
            if workers > 1 {
                #expect(plan.pieces.filter { $0.matrix == "down" }.count > 1, "down_proj dominates and is split")
                #expect(plan.imbalance <= 1.25, "\(workers) workers: imbalance \(plan.imbalance)")
            }
            #expect(plan == SolvePlan(matrices: matrices, workers: workers, rowAlignment: 256), "deterministic")
        }
    }
}
