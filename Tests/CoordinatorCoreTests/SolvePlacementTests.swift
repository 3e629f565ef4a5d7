@testable import CoordinatorCore
import Model
import Testing

@Suite("spreading a stage's solve over workers")
struct SolvePlacementTests {
    /// T(S) computed here from its definition, for any S.
    static func seconds(_ matrices: [SolvePlan.Matrix], solvers: Int, bytes: Double, rates: SolvePlacement.Rates, alignment: Int) -> Double {
        var load: [Int: Double] = [:]
        for piece in SolvePlan(matrices: matrices, workers: solvers, rowAlignment: alignment).pieces { load[piece.worker, default: 0] += piece.cost }
        return Double(load.count) * bytes * rates.secondsPerByte + (load.values.max() ?? 0) * rates.secondsPerCost
    }

    @Test("without rates every worker solves; a limit caps the spread whatever the rates")
    func defaults() {
        let matrices = [SolvePlan.Matrix(rows: 4096, columns: 1024)]
        let unmeasured = SolvePlacement(matrices: matrices, workers: 5, bytesPerSolver: 1e6, rowAlignment: 64, rates: nil)
        #expect(unmeasured.solvers == 5 && Set(unmeasured.plan.pieces.map(\.worker)) == Set(0..<5) && unmeasured.predictedSeconds == nil)
        let free = SolvePlacement.Rates(secondsPerByte: 0, secondsPerCost: 1e-9)
        #expect(SolvePlacement(matrices: matrices, workers: 5, bytesPerSolver: 1e6, rowAlignment: 64, rates: free, limit: 2).solvers == 2)
        #expect(SolvePlacement(matrices: matrices, workers: 5, bytesPerSolver: 1e6, rowAlignment: 64, rates: free, limit: Int.max).solvers == 5)
        // A free link: as many workers as still lower the largest share (16 pieces of 256 rows:
        // 4 each on 4 workers, still 4 on the busiest of 5 — so 4).
        let spread = SolvePlacement(matrices: matrices, workers: 5, bytesPerSolver: 1e6, rowAlignment: 64, rates: free)
        #expect(spread.solvers == 4 && spread.predictedSeconds == spread.allWorkersSeconds)
    }

    @Test("the choice is the S with the smallest T(S) = S·F·b + L(S)·c, ties to fewer workers", arguments: [1e-10, 1e-9, 1e-8, 1e-7])
    func smallest(secondsPerByte: Double) {
        let matrices = [SolvePlan.Matrix(rows: 2048, columns: 2048), SolvePlan.Matrix(rows: 512, columns: 2048), SolvePlan.Matrix(rows: 512, columns: 2048)]
        let rates = SolvePlacement.Rates(secondsPerByte: secondsPerByte, secondsPerCost: 1 / 30e9)
        let bytes = SolvePlacement.bytesPerSolver(columns: 2048, gptq: true)
        let placement = SolvePlacement(matrices: matrices, workers: 8, bytesPerSolver: bytes, rowAlignment: 128, rates: rates)
        let times = (1...8).map { Self.seconds(matrices, solvers: $0, bytes: bytes, rates: rates, alignment: 128) }
        let best = times.indices.min { (times[$0], $0) < (times[$1], $1) }.map { $0 + 1 } ?? 0
        let expected = Set(SolvePlan(matrices: matrices, workers: best, rowAlignment: 128).pieces.map(\.worker)).count
        #expect(placement.solvers == expected, "T(S) = \(times)")
        #expect(placement.predictedSeconds == times[best - 1] && placement.allWorkersSeconds == times[7])
        #expect(Set(placement.plan.pieces.map(\.worker)) == Set(0..<placement.solvers))
    }

    @Test("SmolLM2's down_proj at 1 Gbit/s is solved in one place; a 70B down_proj at 25 Gbit/s on 4–5 of 8 CPU servers")
    func examples() {
        let smol = SolvePlacement(matrices: [SolvePlan.Matrix(rows: 576, columns: 1536)], workers: 3,
                                  bytesPerSolver: SolvePlacement.bytesPerSolver(columns: 1536, gptq: true), rowAlignment: 64,
                                  rates: SolvePlacement.Rates(secondsPerByte: 8 / 1e9, secondsPerCost: 1 / 33e9))
        #expect(smol.solvers == 1)
        let large = SolvePlacement(matrices: [SolvePlan.Matrix(rows: 8192, columns: 28672)], workers: 8,
                                   bytesPerSolver: SolvePlacement.bytesPerSolver(columns: 28672, gptq: true), rowAlignment: 256,
                                   rates: SolvePlacement.Rates(secondsPerByte: 8 / 25e9, secondsPerCost: 1 / 700e9))
        #expect((4...5).contains(large.solvers), "\(large.solvers)")
    }

    @Test("observations: the link's part is the wall time less the busiest worker's busy time; the solve rate is the solving alone; nothing is learnt without bytes or reported times")
    func observations() throws {
        var seen = SolveObservations()
        seen.add(.down, wallSeconds: 1, bytes: 0, workers: [(1e9, 0.5, 0.5)])   // in process
        seen.add(.down, wallSeconds: 1, bytes: 100, workers: [(1e9, 0, 0)])   // a worker that reports no times
        #expect(seen.rates(.down) == nil)
        // Each worker also made the factor (0.1 s): busy, but not solving.
        seen.add(.down, wallSeconds: 1.0, bytes: 100_000_000, workers: [(1e9, 0.3, 0.4), (1e9, 0.4, 0.5)])
        let rates = try #require(seen.rates(.down))
        #expect(abs(rates.secondsPerByte - 0.5 / 1e8) < 1e-18 && abs(rates.secondsPerCost - 0.7 / 2e9) < 1e-18)
        #expect(seen.rates(.qkv) == nil, "the solve's rate is kept per stage")
    }
}
