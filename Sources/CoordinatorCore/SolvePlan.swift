/// Which worker solves which rows of which matrix.
///
/// GPTQ rows are independent given the shared Cholesky factor of H⁻¹, so a matrix can be split by
/// output rows. The cost of solving r rows of a matrix with K inputs is ≈ r·K² (each column's
/// error update touches the remaining columns of every row). The plan cuts each matrix into
/// pieces of at most a quarter of a fair share (`total cost / workers / 4`), then assigns pieces
/// in decreasing cost to the least-loaded worker (longest-processing-time rule), ties to the
/// lower worker index: the most loaded worker then carries at most 1¼ fair shares, since the last
/// piece it received was no bigger than a quarter share and it was the least loaded at the time.
/// Deterministic for the same inputs.
public struct SolvePlan: Sendable, Equatable {
    /// One matrix to solve: `rows` outputs, `columns` inputs.
    public struct Matrix: Sendable, Equatable {
        public let rows: Int
        public let columns: Int

        public init(rows: Int, columns: Int) {
            self.rows = rows
            self.columns = columns
        }

        var costPerRow: Double { Double(columns) * Double(columns) }
    }

    /// A row range of one matrix, given to one worker.
    public struct Piece: Sendable, Equatable {
        /// The matrix's position in the plan's `matrices`.
        public let matrix: Int
        public let rows: Range<Int>
        public let worker: Int
        public let cost: Double
    }

    public let pieces: [Piece]

    /// Plans `matrices` over `workers` workers.
    /// - Parameters:
    ///   - minimumRows: pieces are never cut smaller than this (keeps messages worth sending).
    ///   - rowAlignment: every piece starts on a multiple of this (GPTQ solves rows in tiles, and
    ///     a slice is identical to the whole matrix's rows only when it starts on the tile grid).
    public init(matrices: [Matrix], workers: Int, minimumRows: Int = 64, rowAlignment: Int = 1) {
        precondition(workers > 0 && rowAlignment > 0, "a plan needs at least one worker and a positive alignment")
        let total = matrices.reduce(0.0) { $0 + Double($1.rows) * $1.costPerRow }
        let share = total / Double(workers) / 4
        var candidates: [(matrix: Int, rows: Range<Int>, cost: Double)] = []
        for (index, matrix) in matrices.enumerated() where matrix.rows > 0 {
            let units = (matrix.rows + rowAlignment - 1) / rowAlignment
            let rowsPerShare = max(minimumRows, Int((share / matrix.costPerRow).rounded(.up)))
            let unitsPerPiece = max(1, (rowsPerShare + rowAlignment - 1) / rowAlignment)
            let pieceCount = max(1, (units + unitsPerPiece - 1) / unitsPerPiece)
            let base = units / pieceCount
            let extra = units % pieceCount
            var start = 0
            for piece in 0..<pieceCount {
                let end = min(matrix.rows, start + (base + (piece < extra ? 1 : 0)) * rowAlignment)
                candidates.append((index, start..<end, Double(end - start) * matrix.costPerRow))
                start = end
            }
        }
        let ordered = candidates.enumerated().sorted { ($0.element.cost, -$0.offset) > ($1.element.cost, -$1.offset) }
        var load = [Double](repeating: 0, count: workers)
        var pieces: [Piece] = []
        for (_, candidate) in ordered {
            // Never nil: workers > 0 (the precondition).
            let worker = load.indices.min { (load[$0], $0) < (load[$1], $1) } ?? 0
            load[worker] += candidate.cost
            pieces.append(Piece(matrix: candidate.matrix, rows: candidate.rows, worker: worker, cost: candidate.cost))
        }
        self.pieces = pieces
    }

    /// The largest total cost given to one worker divided by the fair share (1 = perfect balance).
    public var imbalance: Double {
        var load: [Int: Double] = [:]
        for piece in pieces { load[piece.worker, default: 0] += piece.cost }
        let total = load.values.reduce(0, +)
        guard total > 0, let maximum = load.values.max() else { return 1 }
        return maximum / (total / Double(max(1, Set(pieces.map(\.worker)).count)))
    }
}
