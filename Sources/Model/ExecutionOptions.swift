/// Tuning of `LayerExecutor`. Results do not depend on these values beyond float rounding (the
/// shapes of the matrix products change with them).
public struct ExecutionOptions: Sendable, Equatable {
    /// Rows per linear-layer matrix product, and the most tokens of short sequences grouped for
    /// attention. Larger values make the products more efficient and the workspaces larger
    /// (about chunkTokens × (2·intermediate + hidden) floats).
    public var chunkTokens: Int
    /// Query rows per attention block (see `Attention`).
    public var attentionBlockRows: Int

    public init(chunkTokens: Int = 512, attentionBlockRows: Int = 128) {
        precondition(chunkTokens >= 1 && attentionBlockRows >= 1, "ExecutionOptions: sizes must be positive")
        self.chunkTokens = chunkTokens
        self.attentionBlockRows = attentionBlockRows
    }
}
