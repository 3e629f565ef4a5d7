import Foundation
import Model

/// Over how many workers a stage's solve is spread.
///
/// Splitting a stage's matrices by rows over S workers divides the solve, but every one of those
/// workers needs the stage's factor (its Float upper triangle, or RTN's Hessian), and all of them
/// come through the coordinator's one link. With F the bytes of one copy, L(S) the largest
/// worker's solve cost in a `SolvePlan` over S workers (rows·K²), and the link's and a worker's
/// rates b (seconds a byte) and c (seconds a unit of cost):
///
///     T(S) = S·F·b + L(S)·c
///
/// which falls with S while the solve dominates and rises once the copies do: a 1536-wide
/// down_proj's 4.7 MB factor is 38 ms at 1 Gbit/s against 14 ms of solving a third of its rows
/// here, so at 1 Gbit/s it is solved in one place; a 70B down_proj (1.6 GB against ≈ 10 s of
/// solve at 2 TFLOP/s on 25 Gbit/s) is best on 4–5 workers. The choice is the S in 1…W with the
/// smallest T (ties to fewer workers; only workers given pieces count). The output does not depend on it: pieces start on the
/// solve's row tile, where a slice solves to the same bits as the whole matrix.
public struct SolvePlacement: Sendable, Equatable {
    /// The rates the choice divides by.
    public struct Rates: Sendable, Equatable {
        /// Seconds per byte sent to the solving workers (the coordinator's link).
        public var secondsPerByte: Double
        /// Seconds per unit of solve cost (rows·K²) on one worker.
        public var secondsPerCost: Double

        public init(secondsPerByte: Double, secondsPerCost: Double) {
            (self.secondsPerByte, self.secondsPerCost) = (secondsPerByte, secondsPerCost)
        }
    }

    /// Workers the stage is solved on (the first `solvers` of the live ones: those with pieces).
    public let solvers: Int
    /// The row pieces over `solvers` workers.
    public let plan: SolvePlan
    /// T(solvers), and T(W) for comparison (nil without rates).
    public let predictedSeconds: Double?
    public let allWorkersSeconds: Double?

    /// Chooses the spread of `matrices` over at most `workers` workers.
    /// - Parameters:
    ///   - bytesPerSolver: F, what each solving worker is sent (`factorBytes`).
    ///   - rates: nil solves on every worker (nothing measured yet).
    ///   - limit: at most this many workers whatever the rates (`--solve-workers N`).
    public init(matrices: [SolvePlan.Matrix], workers: Int, bytesPerSolver: Double, rowAlignment: Int,
                rates: Rates?, limit: Int? = nil) {
        precondition(workers > 0, "a placement needs a worker")
        let most = max(1, min(workers, limit ?? workers))
        func plan(_ count: Int) -> SolvePlan { SolvePlan(matrices: matrices, workers: count, rowAlignment: rowAlignment) }
        // Only workers with pieces are sent anything (a plan over S workers may leave some idle).
        func seconds(_ plan: SolvePlan, _ rates: Rates) -> Double {
            var load: [Int: Double] = [:]
            for piece in plan.pieces { load[piece.worker, default: 0] += piece.cost }
            return Double(load.count) * bytesPerSolver * rates.secondsPerByte + (load.values.max() ?? 0) * rates.secondsPerCost
        }
        func used(_ plan: SolvePlan) -> Int { Set(plan.pieces.map(\.worker)).count }
        guard let rates, limit == nil else {
            let chosen = plan(most)
            (solvers, self.plan, predictedSeconds, allWorkersSeconds) = (used(chosen), chosen, nil, nil)
            return
        }
        var best = (plan: plan(most), seconds: Double.infinity)
        var all = Double.infinity
        for count in 1...most {
            let candidate = plan(count)
            let t = seconds(candidate, rates)
            if count == most { all = t }
            if t < best.seconds { best = (candidate, t) }
        }
        (solvers, self.plan, predictedSeconds, allWorkersSeconds) = (used(best.plan), best.plan, best.seconds, all)
    }

    /// Bytes of what a solving worker receives for a stage of input width `columns`: GPTQ's factor
    /// (the upper triangle of U in Float, the permutation, dead columns and diag H: 12 bytes a
    /// column at most) or RTN's Hessian (K² Floats) — `WireCodec`'s frames.
    public static func bytesPerSolver(columns: Int, gptq: Bool) -> Double {
        let k = Double(columns)
        return gptq ? 4 * k * (k + 1) / 2 + 12 * k : 4 * k * k
    }
}

/// What the job has seen of its solves, for `SolvePlacement`: the link's seconds a byte over all
/// solves, and a worker's seconds a unit of cost per stage (a K² cost model holds within a
/// stage's width, not across widths).
struct SolveObservations: Sendable {
    private var linkSeconds = 0.0
    private var bytes = 0.0
    private var solveSeconds: [LayerStage: Double] = [:]
    private var cost: [LayerStage: Double] = [:]
    /// Seconds per K³ of the factors made by the coordinator and by workers (the slowest of a solve's).
    private var factorSeconds: [Bool: Double] = [:]
    private var factorCubes: [Bool: Double] = [:]

    /// A factor of width `columns` made in `seconds`, by the workers or by the coordinator.
    mutating func addFactor(columns: Int, seconds: Double, byWorkers: Bool) {
        guard seconds > 0, seconds.isFinite else { return }
        factorSeconds[byWorkers, default: 0] += seconds
        factorCubes[byWorkers, default: 0] += pow(Double(columns), 3)
    }

    /// Whether the workers should make the next factor (`FactorPlace.auto`): the coordinator makes
    /// the first (its rate is then known), the workers the next, then whichever was faster a K³
    /// (ties to the workers: the coordinator's CPU off the critical path).
    var factorOnWorkers: Bool {
        guard let here = factorSeconds[false].flatMap({ s in factorCubes[false].map { s / $0 } }) else { return false }
        guard let there = factorSeconds[true].flatMap({ s in factorCubes[true].map { s / $0 } }) else { return true }
        return there <= here
    }

    /// One solve: its broadcast's wall time, the bytes it moved (requests and replies), and per
    /// worker the pieces' cost, the seconds the worker reported solving them and its busy seconds
    /// in all (a factor it made included). The link's part is the wall time less the busiest
    /// worker's busy time; the solve rate is the solving alone.
    mutating func add(_ stage: LayerStage, wallSeconds: Double, bytes moved: Int, workers: [(cost: Double, seconds: Double, busy: Double)]) {
        let busiest = workers.map(\.busy).max() ?? 0
        let solved = workers.reduce(0) { $0 + $1.seconds }
        guard moved > 0, solved > 0, wallSeconds.isFinite else { return }   // in process, or workers that report no times
        linkSeconds += max(0, wallSeconds - busiest)
        bytes += Double(moved)
        solveSeconds[stage, default: 0] += solved
        cost[stage, default: 0] += workers.reduce(0) { $0 + $1.cost }
    }

    /// The rates for `stage`, nil until a solve of that stage has been seen over a link.
    func rates(_ stage: LayerStage) -> SolvePlacement.Rates? {
        guard bytes > 0, let seconds = solveSeconds[stage], let cost = cost[stage], cost > 0 else { return nil }
        return SolvePlacement.Rates(secondsPerByte: linkSeconds / bytes, secondsPerCost: seconds / cost)
    }
}
