/// Encodes pieces with a `BytePairModel`, reusing its buffers across pieces (no allocation per
/// piece once they have grown), with a cache of pieces already seen in this encoder's lifetime.
///
/// The merge loop is `Word::merge_all` of the tokenizers library: a min-heap of candidate merges
/// keyed by (rank, position), so the lowest-ranked adjacent pair is merged first and ties go to
/// the leftmost; an entry whose pair has changed since it was pushed is skipped. Symbols live in
/// arrays linked by `previous`/`next`, a merged-away symbol is marked -1.
struct BytePairEncoder {
    private var symbols: [Int32] = []
    private var previous: [Int32] = []
    private var next: [Int32] = []
    private var heap: [UInt64] = []

    /// Cache: piece bytes → index into `cacheSpans`, whose (start, count) locate ids in `cacheIDs`.
    private var cache = ByteStringTable(minimumCapacity: 4096)
    private var cacheSpans: [(start: Int32, count: Int32)] = []
    private var cacheIDs: [Int32] = []
    /// Pieces longer than this are not cached (the reference uses the same bound).
    private static let cacheMaximumPieceBytes = 256
    private static let cacheMaximumEntries = 1 << 18

    /// Appends the ids of `bytes[range]` to `output`.
    mutating func encode(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, model: BytePairModel, into output: inout [Int32]) {
        if range.isEmpty { return }
        if model.ignoreMerges, let id = model.vocabulary.value(for: bytes, range) {
            output.append(id)
            return
        }
        let cacheable = range.count <= Self.cacheMaximumPieceBytes
        if cacheable, let entry = cache.value(for: bytes, range) {
            let span = cacheSpans[Int(entry)]
            output.append(contentsOf: cacheIDs[Int(span.start)..<Int(span.start + span.count)])
            return
        }
        let first = output.count
        initialSymbols(bytes, range, model: model)
        merge(model.merges)
        var index: Int32 = symbols.isEmpty ? -1 : 0
        while index >= 0 {
            output.append(symbols[Int(index)])
            index = next[Int(index)]
        }
        if cacheable && cache.count < Self.cacheMaximumEntries {
            cache.insert(bytes, range, value: Int32(cacheSpans.count))
            cacheSpans.append((Int32(cacheIDs.count), Int32(output.count - first)))
            cacheIDs.append(contentsOf: output[first...])
        }
    }

    // MARK: First symbols (BPE::merge_word)

    private mutating func initialSymbols(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, model: BytePairModel) {
        symbols.removeAll(keepingCapacity: true)
        var pendingUnknown = false
        if model.byteLevel {
            for index in range {
                let id = model.byteSymbols[Int(bytes[index])]
                if id >= 0 {
                    flushUnknown(&pendingUnknown, model)
                    symbols.append(id)
                } else {
                    // The piece's character is the byte's alphabet character; its UTF-8 is what
                    // byte fallback would spell.
                    let character = Array(String(Unicode.Scalar(ByteLevelAlphabet.scalars[Int(bytes[index])])!).utf8)
                    character.withUnsafeBufferPointer { unknownCharacter($0, 0..<$0.count, &pendingUnknown, model) }
                }
            }
        } else {
            var index = range.lowerBound
            while index < range.upperBound {
                let lead = bytes[index]
                let length = UTF8Scalars.length(lead: lead)
                let id = lead < 0x80 ? model.asciiSymbols[Int(lead)] : (model.vocabulary.value(for: bytes, index..<(index + length)) ?? -1)
                if id >= 0 {
                    flushUnknown(&pendingUnknown, model)
                    symbols.append(id)
                } else {
                    unknownCharacter(bytes, index..<(index + length), &pendingUnknown, model)
                }
                index += length
            }
        }
        flushUnknown(&pendingUnknown, model)
    }

    /// A character missing from the vocabulary: its bytes' `<0xNN>` tokens with byte fallback
    /// when the vocabulary has all of them, else the unknown token (consecutive ones fused into
    /// one with `fuse_unk`), else nothing. As in `tokenizers` (`BPE::merge_word`), a fallback
    /// leaves a pending unknown pending: "✓¿" with no token for ✓'s bytes encodes as ¿'s bytes,
    /// then `<unk>` (the golden fixture `partial-bytefallback` pins it).
    private mutating func unknownCharacter(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ pending: inout Bool, _ model: BytePairModel) {
        if let fallback = model.byteFallback, range.allSatisfy({ fallback[Int(bytes[$0])] >= 0 }) {
            for index in range { symbols.append(fallback[Int(bytes[index])]) }
            return
        }
        guard model.unknownID != nil else { return }
        if pending && !model.fuseUnknown { flushUnknown(&pending, model) }
        pending = true
    }

    @inline(__always)
    private mutating func flushUnknown(_ pending: inout Bool, _ model: BytePairModel) {
        if pending, let unknown = model.unknownID { symbols.append(unknown) }
        pending = false
    }

    // MARK: Merges (Word::merge_all)

    private mutating func merge(_ merges: MergeTable) {
        let count = symbols.count
        previous.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        for index in 0..<count {
            previous.append(Int32(index) - 1)
            next.append(index + 1 < count ? Int32(index + 1) : -1)
        }
        if count < 2 { return }
        heap.removeAll(keepingCapacity: true)
        merges.withStorage { keys, values in
            for index in 0..<(count - 1) {
                if let merge = merges.lookup(symbols[index], symbols[index + 1], keys: keys, values: values) {
                    push(merge & 0xFFFF_FFFF_0000_0000 | UInt64(index))
                }
            }
            while let top = popMinimum() {
                let position = Int(top & 0xFFFF_FFFF)
                let rank = top >> 32
                let right = Int(next[position])
                if symbols[position] < 0 || right < 0 { continue }
                guard let merge = merges.lookup(symbols[position], symbols[right], keys: keys, values: values),
                      merge >> 32 == rank else { continue }
                symbols[position] = Int32(truncatingIfNeeded: merge & 0xFFFF_FFFF)
                symbols[right] = -1
                let after = next[right]
                next[position] = after
                if after >= 0 { previous[Int(after)] = Int32(position) }
                let before = previous[position]
                if before >= 0, let left = merges.lookup(symbols[Int(before)], symbols[position], keys: keys, values: values) {
                    push(left & 0xFFFF_FFFF_0000_0000 | UInt64(before))
                }
                if after >= 0, let following = merges.lookup(symbols[position], symbols[Int(after)], keys: keys, values: values) {
                    push(following & 0xFFFF_FFFF_0000_0000 | UInt64(position))
                }
            }
        }
    }

    // A binary min-heap of (rank << 32 | position).

    @inline(__always)
    private mutating func push(_ value: UInt64) {
        heap.append(value)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) >> 1
            if heap[parent] <= value { break }
            heap[child] = heap[parent]
            child = parent
        }
        heap[child] = value
    }

    @inline(__always)
    private mutating func popMinimum() -> UInt64? {
        guard let last = heap.popLast() else { return nil }
        if heap.isEmpty { return last }
        let top = heap[0]
        var parent = 0
        let count = heap.count
        while true {
            var child = 2 * parent + 1
            if child >= count { break }
            if child + 1 < count && heap[child + 1] < heap[child] { child += 1 }
            if heap[child] >= last { break }
            heap[parent] = heap[child]
            parent = child
        }
        heap[parent] = last
        return top
    }
}
