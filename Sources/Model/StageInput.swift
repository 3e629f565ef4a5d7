/// The input of one stage's linears for a range of tokens: `rows` × `width` values, row-major
/// and contiguous. `values` points into the executor's buffers and is valid only during the call
/// that receives it.
public struct StageInput {
    public let stage: LayerStage
    /// Row of the batch (see `SequenceBatch`) that the first row here belongs to.
    public let firstToken: Int
    public let rows: Int
    /// Input features of the stage's linears (see `LayerStage.inputWidth(_:)`).
    public let width: Int
    /// `rows * width` values.
    public let values: UnsafeBufferPointer<Float>

    init(stage: LayerStage, firstToken: Int, rows: Int, width: Int, values: UnsafePointer<Float>) {
        self.stage = stage
        self.firstToken = firstToken
        self.rows = rows
        self.width = width
        self.values = UnsafeBufferPointer(start: values, count: rows * width)
    }
}
