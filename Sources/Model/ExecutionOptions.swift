/// Tuning of `LayerExecutor`. Results do not depend on these values beyond float rounding (the
/// shapes of the matrix products change with them).
public struct ExecutionOptions: Sendable, Equatable {
    /// Rows per linear-layer matrix product, and the most tokens of short sequences grouped for
    /// attention. Larger values make the products more efficient and the workspaces larger
    /// (about chunkTokens × (2·intermediate + hidden) floats).
    public var chunkTokens: Int
    /// Query rows per attention block (see `Attention`).
    public var attentionBlockRows: Int
    /// Whether short sequences share matrix products (faster for short sequences). When false,
    /// every product covers rows of one sequence only, cut at multiples of `chunkTokens` from its
    /// first token, so a sequence's results depend on that sequence alone — not on which other
    /// sequences share the batch (BLAS results can depend on a product's row count). Calibration
    /// needs that to give the same bits however samples are split over workers.
    public var packSequences: Bool

    public init(chunkTokens: Int = 512, attentionBlockRows: Int = 128, packSequences: Bool = true) {
        precondition(chunkTokens >= 1 && attentionBlockRows >= 1, "ExecutionOptions: sizes must be positive")
        self.chunkTokens = chunkTokens
        self.attentionBlockRows = attentionBlockRows
        self.packSequences = packSequences
    }
}
