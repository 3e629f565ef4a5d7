/// Open-addressing hash tables for the tokenizer's hot lookups, so that no lookup allocates:
/// byte strings (vocabulary entries, cached pieces) and pairs of token ids (merges).
/// Linear probing, capacity a power of two at most half full.

/// 64-bit FNV-1a over bytes (Fowler–Noll–Vo; offset basis 0xcbf29ce484222325, prime 0x100000001b3),
/// finished with a multiply-xorshift so that the low bits (the bucket index) mix well.
@inline(__always)
func hashBytes(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for index in range {
        hash = (hash ^ UInt64(bytes[index])) &* 0x0000_0100_0000_01b3
    }
    hash ^= hash >> 32
    hash = hash &* 0x9E37_79B9_7F4A_7C15
    return hash ^ (hash >> 29)
}

/// A map from byte strings to `Int32` values. Keys live in one arena.
struct ByteStringTable: Sendable {
    private struct Slot: Sendable {
        var hash: UInt64 = 0
        var offset: Int32 = 0
        var length: Int32 = -1  // -1: empty
        var value: Int32 = 0
    }

    private var slots: [Slot]
    private var keys: [UInt8] = []
    private var mask: Int
    private(set) var count = 0

    init(minimumCapacity: Int = 16) {
        var capacity = 16
        while capacity < 2 * minimumCapacity { capacity <<= 1 }
        slots = [Slot](repeating: Slot(), count: capacity)
        mask = capacity - 1
    }

    /// The value stored for `bytes[range]`, if any.
    @inline(__always)
    func value(for bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int32? {
        let hash = hashBytes(bytes, range)
        return slots.withUnsafeBufferPointer { slots in
            keys.withUnsafeBufferPointer { keys in
                var index = Int(truncatingIfNeeded: hash) & mask
                while true {
                    let slot = slots[index]
                    if slot.length < 0 { return nil }
                    if slot.hash == hash && Int(slot.length) == range.count
                        && equal(keys, Int(slot.offset), bytes, range.lowerBound, range.count) {
                        return slot.value
                    }
                    index = (index + 1) & mask
                }
            }
        }
    }

    /// The value stored for `key`, if any.
    func value(for key: [UInt8]) -> Int32? {
        key.withUnsafeBufferPointer { value(for: $0, 0..<$0.count) }
    }

    /// Stores `value` for `bytes[range]`, replacing an earlier value for the same key.
    mutating func insert(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, value: Int32) {
        if 2 * (count + 1) > slots.count { grow() }
        let hash = hashBytes(bytes, range)
        var index = Int(truncatingIfNeeded: hash) & mask
        while slots[index].length >= 0 {
            let slot = slots[index]
            if slot.hash == hash && Int(slot.length) == range.count
                && keys.withUnsafeBufferPointer({ equal($0, Int(slot.offset), bytes, range.lowerBound, range.count) }) {
                slots[index].value = value
                return
            }
            index = (index + 1) & mask
        }
        slots[index] = Slot(hash: hash, offset: Int32(keys.count), length: Int32(range.count), value: value)
        keys.append(contentsOf: bytes[range])
        count += 1
    }

    mutating func insert(_ key: [UInt8], value: Int32) {
        key.withUnsafeBufferPointer { insert($0, 0..<$0.count, value: value) }
    }

    /// Bytes held in the key arena (for a cache's size limit).
    var keyBytes: Int { keys.count }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(), count: old.count * 2)
        mask = slots.count - 1
        for slot in old where slot.length >= 0 {
            var index = Int(truncatingIfNeeded: slot.hash) & mask
            while slots[index].length >= 0 { index = (index + 1) & mask }
            slots[index] = slot
        }
    }

    @inline(__always)
    private func equal(_ a: UnsafeBufferPointer<UInt8>, _ aStart: Int, _ b: UnsafeBufferPointer<UInt8>, _ bStart: Int, _ count: Int) -> Bool {
        for offset in 0..<count where a[aStart + offset] != b[bStart + offset] { return false }
        return true
    }
}

/// A map from a pair of token ids to a merge: its rank (position in the merges list) and the id
/// of the merged token.
struct MergeTable: Sendable {
    private var keys: [UInt64]
    private var values: [UInt64]
    private var mask: Int
    private(set) var count = 0
    private static let empty = UInt64.max

    init(minimumCapacity: Int) {
        var capacity = 16
        while capacity < 2 * minimumCapacity { capacity <<= 1 }
        keys = [UInt64](repeating: Self.empty, count: capacity)
        values = [UInt64](repeating: 0, count: capacity)
        mask = capacity - 1
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always)
    private static func bucket(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// Records that `left right` merges into `merged` with `rank`; a later rank for the same pair
    /// replaces an earlier one (as the reference's HashMap collect does).
    mutating func insert(_ left: Int32, _ right: Int32, rank: Int32, merged: Int32) {
        let key = Self.key(left, right)
        var index = Self.bucket(key, mask)
        while keys[index] != Self.empty && keys[index] != key { index = (index + 1) & mask }
        if keys[index] == Self.empty { count += 1 }
        keys[index] = key
        values[index] = UInt64(UInt32(rank)) << 32 | UInt64(UInt32(bitPattern: merged))
    }

    /// The merge of `left right`: rank in the upper 32 bits, merged id in the lower, or nil.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32, keys: UnsafeBufferPointer<UInt64>, values: UnsafeBufferPointer<UInt64>) -> UInt64? {
        let key = Self.key(left, right)
        var index = Self.bucket(key, mask)
        while true {
            let found = keys[index]
            if found == key { return values[index] }
            if found == Self.empty { return nil }
            index = (index + 1) & mask
        }
    }

    /// Runs `body` with the table's storage, so that lookups in a loop do not re-enter it.
    @inline(__always)
    func withStorage<R>(_ body: (UnsafeBufferPointer<UInt64>, UnsafeBufferPointer<UInt64>) -> R) -> R {
        keys.withUnsafeBufferPointer { keys in values.withUnsafeBufferPointer { values in body(keys, values) } }
    }
}
