/// How `LayerExecutor` cuts a batch: **groups** of whole consecutive sequences (attention needs a
/// whole sequence), each cut into **pieces** of at most `chunkTokens` rows for the linear layers.
/// Short sequences are packed into one group up to `chunkTokens` tokens (unless `packSequences`
/// is false); a longer sequence is a group of its own with several pieces. Every path through the executor uses the same plan, so
/// every matrix product has the same shape whichever path runs it.
struct ChunkPlan {
    struct Group {
        var sequences: Range<Int>
        var tokens: Range<Int>
        var pieces: [Range<Int>]
    }

    let groups: [Group]
    /// All pieces in token order.
    let pieces: [Range<Int>]
    let maxGroupTokens: Int
    let maxPieceTokens: Int

    init(batch: SequenceBatch, chunkTokens: Int, packSequences: Bool = true) {
        var groups: [Group] = []
        var first = 0
        while first < batch.count {
            var last = first + 1
            var tokens = batch.lengths[first]
            while packSequences, last < batch.count, tokens + batch.lengths[last] <= chunkTokens {
                tokens += batch.lengths[last]
                last += 1
            }
            let start = batch.offsets[first]
            let range = start ..< start + tokens
            let pieces = stride(from: range.lowerBound, to: range.upperBound, by: chunkTokens).map {
                $0 ..< min($0 + chunkTokens, range.upperBound)
            }
            groups.append(Group(sequences: first ..< last, tokens: range, pieces: pieces))
            first = last
        }
        self.groups = groups
        pieces = groups.flatMap(\.pieces)
        maxGroupTokens = groups.map(\.tokens.count).max() ?? 0
        maxPieceTokens = pieces.map(\.count).max() ?? 0
    }

    /// `items` in an order that lets a pass rewrite a buffer in place while its row width changes
    /// from `inWidth` to `outWidth`: item rows [s, e) are read at offsets [s·in, e·in) and written
    /// at [s·out, e·out). Growing rows (out > in) go last to first, so a write never reaches rows
    /// not yet read (those lie below s·in ≤ s·out); shrinking rows go first to last (unread rows
    /// start at e·in ≥ e·out). Each item reads all its input before writing its output.
    static func inPlaceOrder<T>(_ items: [T], inWidth: Int, outWidth: Int) -> [T] {
        outWidth > inWidth ? items.reversed() : items
    }
}
