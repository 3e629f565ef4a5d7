/// Options of a GPTQ solve: everything besides H that decides the codes. A whole-matrix solve and
/// row-sliced solves give identical results only under identical options.
public struct GPTQSolveOptions: Sendable, Hashable {
    public var scheme: QuantizationScheme
    /// true: every group's scale and zero point come from the original weights (dead columns
    /// zeroed) before any update, groups follow the original column order, and g_idx is trivial even
    /// with act-order (AutoGPTQ `static_groups`, llm-compressor's `actorder="weight"` and its
    /// default). false: a group's parameters come from its weights as updated by every column
    /// quantized before it, fitted when its first column is reached (the GPTQ paper and reference);
    /// with act-order, groups are runs of the processing order and g_idx records them.
    public var staticGroups: Bool
    /// Columns per lazy batch (GPTQ's `blocksize`, 128). With dynamic groups a block is cut short at
    /// a group boundary when the group would not fit in it, so that a group's parameters are always
    /// fitted to fully updated weights (see `GPTQ.blocks`).
    public var blockSize: Int
    /// Rows solved together. Rows are independent given U; the solve runs tile by tile, each tile
    /// with its own BLAS calls, so a row-sliced solve that starts on a tile boundary repeats exactly
    /// the calls of the whole solve for its rows: identical bits by construction.
    public var rowTile: Int
    /// Optional MSE clipping search for each group's range (weighted by diag H).
    public var clipping: ClippingSearch?

    public init(scheme: QuantizationScheme, staticGroups: Bool = false, blockSize: Int = 128, rowTile: Int = 256,
                clipping: ClippingSearch? = nil) {
        self.scheme = scheme
        self.staticGroups = staticGroups
        self.blockSize = blockSize
        self.rowTile = rowTile
        self.clipping = clipping
    }

    func validate(columns: Int) throws(KernelError) {
        _ = try scheme.groupLength(columns: columns)
        guard blockSize > 0, rowTile > 0 else {
            throw KernelError(.invalidArgument, "GPTQ: block size \(blockSize) and row tile \(rowTile) must be positive")
        }
    }
}

/// A share of a GPTQ solve: rows [firstRow, firstRow + weights.rows) of one weight matrix, to be
/// solved against the factor of its input.
public struct GPTQSolveRequest: Sendable, Equatable {
    public var firstRow: Int
    /// The rows' weights, rows × K, original column order.
    public var weights: Matrix
    public var options: GPTQSolveOptions

    public init(firstRow: Int, weights: Matrix, options: GPTQSolveOptions) {
        self.firstRow = firstRow
        self.weights = weights
        self.options = options
    }
}

/// The result of one `GPTQSolveRequest`.
public struct GPTQSolveResult: Sendable, Equatable {
    public var firstRow: Int
    /// Codes, scales, zero points and g_idx of the rows.
    public var quantized: QuantizedWeights
    /// GPTQ's loss per row: Σ_j (w_j − q_j)² / (2·U_jj²), float64.
    public var rowLosses: [Double]

    public init(firstRow: Int, quantized: QuantizedWeights, rowLosses: [Double]) {
        self.firstRow = firstRow
        self.quantized = quantized
        self.rowLosses = rowLosses
    }

    /// The rows covered.
    public var rows: Range<Int> { firstRow..<(firstRow + quantized.rows) }
}

/// A whole matrix solved by GPTQ.
public struct GPTQResult: Sendable, Equatable {
    public var quantized: QuantizedWeights
    public var rowLosses: [Double]
    /// Σ of `rowLosses` in row order (GPTQ's reported error).
    public var loss: Double
    /// The damping percent used (after retries), λ, and the number of retries.
    public var dampingPercent: Double
    public var damping: Double
    public var dampingRetries: Int
}
