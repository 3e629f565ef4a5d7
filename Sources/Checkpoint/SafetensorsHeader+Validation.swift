/// Layout checks of a parsed header against the file it came from.
///
/// Per-entry checks (known dtype, shape × element size == byte length, begin ≤ end) run while
/// parsing; these need all entries at once: every tensor inside the data section, and no two
/// tensors sharing bytes. Gaps between tensors are allowed (they cannot produce a wrong value).
extension SafetensorsHeader {
    static func validateLayout(_ entries: [TensorEntry], dataSize: Int, file: String) throws {
        for entry in entries where entry.dataOffsets.upperBound > dataSize {
            throw CheckpointError(.offsetsOutOfRange, file: file, tensor: entry.name,
                "ends at byte \(entry.dataOffsets.upperBound) of the data section but the data section has \(dataSize) bytes")
        }
        let ordered = entries.filter { !$0.dataOffsets.isEmpty }.sorted {
            ($0.dataOffsets.lowerBound, $0.name) < ($1.dataOffsets.lowerBound, $1.name)
        }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.dataOffsets.lowerBound < previous.dataOffsets.upperBound {
            throw CheckpointError(.overlappingOffsets, file: file, tensor: next.name,
                "bytes \(next.dataOffsets.lowerBound)..<\(next.dataOffsets.upperBound) overlap tensor \"\(previous.name)\" at \(previous.dataOffsets.lowerBound)..<\(previous.dataOffsets.upperBound)")
        }
    }
}
