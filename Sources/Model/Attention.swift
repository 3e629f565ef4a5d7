import Checkpoint
import Kernels

/// Grouped-query causal self-attention of one sequence (Vaswani et al. 2017; Ainslie et al. 2023
/// for the grouping), with float32 softmax:
///   out_h = softmax(q_h·k_gᵀ/√d + mask)·v_g,   g = h / (heads / kvHeads),
/// where the mask hides key j from query i unless j ≤ i and, with Mistral's sliding window W,
/// i − W < j.
///
/// Queries are processed in blocks of `blockRows`; a block only multiplies against the keys some
/// row of it can see, so the causal triangle (and a short window) costs about half the square.
/// Both products of a block are one `sgemm` each, reading heads in place through leading
/// dimensions (q and out: `queryWidth`, k and v: `keyValueWidth`).
struct Attention {
    let heads: Int
    let kvHeads: Int
    let headDim: Int
    let window: Int?
    let blockRows: Int

    init(config: ModelConfig, blockRows: Int) {
        heads = config.numAttentionHeads
        kvHeads = config.numKeyValueHeads
        headDim = config.headDim
        window = config.slidingWindow
        self.blockRows = blockRows
    }

    /// Floats of the scores workspace for sequences of up to `maxLength` tokens.
    func scoresCount(maxLength: Int) -> Int { min(blockRows, maxLength) * maxLength }

    /// Attention of one sequence of `length` tokens.
    /// - Parameters:
    ///   - q, out: `length` rows of heads × headDim values (row stride `heads * headDim`).
    ///   - k, v: `length` rows of kvHeads × headDim values.
    ///   - scores: workspace of `scoresCount(maxLength:)` floats, maxLength ≥ length.
    /// - Returns: the floating-point operations of the two products.
    @discardableResult
    func run(length: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
             out: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>) -> Double {
        let queryWidth = heads * headDim
        let keyValueWidth = kvHeads * headDim
        let group = heads / kvHeads
        let scale = 1 / Float(headDim).squareRoot()
        var flops = 0.0
        var blockStart = 0
        while blockStart < length {
            let blockEnd = min(length, blockStart + blockRows)
            let rows = blockEnd - blockStart
            let firstKey = window.map { max(0, blockStart - $0 + 1) } ?? 0
            let keys = blockEnd - firstKey
            for h in 0..<heads {
                let g = h / group
                BLAS.sgemm(transposeB: true, m: rows, n: keys, k: headDim, alpha: scale,
                           a: q + blockStart * queryWidth + h * headDim, lda: queryWidth,
                           b: k + firstKey * keyValueWidth + g * headDim, ldb: keyValueWidth,
                           c: scores, ldc: keys)
                for r in 0..<rows {
                    let position = blockStart + r
                    let visibleFrom = window.map { max(0, position - $0 + 1) } ?? 0
                    softmax(scores + r * keys, count: keys, visible: (visibleFrom - firstKey)...(position - firstKey))
                }
                BLAS.sgemm(m: rows, n: headDim, k: keys, a: scores, lda: keys,
                           b: v + firstKey * keyValueWidth + g * headDim, ldb: keyValueWidth,
                           c: out + blockStart * queryWidth + h * headDim, ldc: queryWidth)
            }
            flops += 4 * Double(heads) * Double(rows) * Double(keys) * Double(headDim)
            blockStart = blockEnd
        }
        return flops
    }

    /// Softmax over `visible` of a row of `count` scores, in float32; the other entries become 0.
    private func softmax(_ row: UnsafeMutablePointer<Float>, count: Int, visible: ClosedRange<Int>) {
        let first = row + visible.lowerBound
        let width = visible.count
        let maximum = VectorExp.maximum(first, count: width)
        let inverse = 1 / VectorExp.exponentiate(first, count: width, subtracting: maximum)
        for j in 0..<width { first[j] *= inverse }
        for j in 0..<visible.lowerBound { row[j] = 0 }
        for j in (visible.upperBound + 1)..<count { row[j] = 0 }
    }
}
