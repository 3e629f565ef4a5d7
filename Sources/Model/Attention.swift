import Kernels
import ModelConfiguration

/// Grouped-query causal self-attention of one sequence (Vaswani et al. 2017; Ainslie et al. 2023
/// for the grouping), with float32 softmax:
///   out_h = softmax(q_h·k_gᵀ/√d + mask)·v_g,   g = h / (heads / kvHeads),
/// where the mask hides key j from query i unless j ≤ i and, with Mistral's sliding window W,
/// i − W < j.
///
/// Queries are processed in blocks of `blockRows`; a block only multiplies against the keys some
/// row of it can see, so the causal triangle (and a short window) costs about half the square.
/// The `group` query heads that share a key/value head are packed one under the other
/// (group·rows × d), so that each block costs two `sgemm`s per key/value head, with `group` times
/// more rows than per-head products would have: fewer, larger calls, which BLAS runs faster.
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

    private var group: Int { heads / kvHeads }

    /// Floats of the workspace for sequences of up to `maxLength` tokens: scores
    /// (group·rows × keys), packed queries and packed outputs (group·rows × d each).
    func workspaceCount(maxLength: Int) -> Int {
        let rows = group * min(blockRows, maxLength)
        return rows * maxLength + 2 * rows * headDim
    }

    /// Attention of one sequence of `length` tokens.
    /// - Parameters:
    ///   - q, out: `length` rows of heads × headDim values (row stride `heads * headDim`).
    ///   - k, v: `length` rows of kvHeads × headDim values.
    ///   - workspace: `workspaceCount(maxLength:)` floats, maxLength ≥ length.
    /// - Returns: the floating-point operations of the two products.
    @discardableResult
    func run(length: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
             out: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>) -> Double {
        let (queryWidth, keyValueWidth, d) = (heads * headDim, kvHeads * headDim, headDim)
        let scale = 1 / Float(d).squareRoot()
        let packedRows = group * min(blockRows, length)
        let scores = workspace
        let packedQ = workspace + packedRows * length
        let packedOut = packedQ + packedRows * d
        var flops = 0.0
        var blockStart = 0
        while blockStart < length {
            let blockEnd = min(length, blockStart + blockRows)
            let rows = blockEnd - blockStart
            let firstKey = window.map { max(0, blockStart - $0 + 1) } ?? 0
            let keys = blockEnd - firstKey
            for g in 0..<kvHeads {
                // Row i·rows + r of the packed block is query head g·group + i at position blockStart + r.
                for i in 0..<group {
                    for r in 0..<rows {
                        (packedQ + (i * rows + r) * d).update(from: q + (blockStart + r) * queryWidth + (g * group + i) * d, count: d)
                    }
                }
                BLAS.sgemm(transposeB: true, m: group * rows, n: keys, k: d, alpha: scale, a: packedQ, lda: d,
                           b: k + firstKey * keyValueWidth + g * d, ldb: keyValueWidth, c: scores, ldc: keys)
                for i in 0..<group {
                    for r in 0..<rows {
                        let position = blockStart + r
                        let visibleFrom = window.map { max(0, position - $0 + 1) } ?? 0
                        softmax(scores + (i * rows + r) * keys, count: keys, visible: (visibleFrom - firstKey)...(position - firstKey))
                    }
                }
                BLAS.sgemm(m: group * rows, n: d, k: keys, a: scores, lda: keys,
                           b: v + firstKey * keyValueWidth + g * d, ldb: keyValueWidth, c: packedOut, ldc: d)
                for i in 0..<group {
                    for r in 0..<rows {
                        (out + (blockStart + r) * queryWidth + (g * group + i) * d).update(from: packedOut + (i * rows + r) * d, count: d)
                    }
                }
            }
            flops += 4 * Double(heads) * Double(rows) * Double(keys) * Double(d)
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
