import Tensors

/// Writes safetensors files: header keys and data in sorted name order, the header padded with
/// spaces to a multiple of 8 bytes (so that the data section is 8-byte aligned, as the
/// reference writer does), each file written atomically (`AtomicFile`).
public enum SafetensorsWriter {
    /// The encoded header (length prefix included) for `tensors`, and the tensors in data order.
    /// - Returns: the header bytes and the names in the order their data follows.
    public static func header(for tensors: [String: Tensor], metadata: [String: String]) -> (bytes: [UInt8], order: [String]) {
        let order = tensors.keys.sorted()
        var parts: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.keys.sorted().map { "\(JSONText.quoted($0)):\(JSONText.quoted(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for name in order {
            let tensor = tensors[name]!
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            parts.append("\(JSONText.quoted(name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + tensor.byteCount)]}")
            offset += tensor.byteCount
        }
        var json = Array("{\(parts.joined(separator: ","))}".utf8)
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var bytes = [UInt8](repeating: 0, count: 8)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        return (bytes + json, order)
    }

    /// Writes `tensors` to `path` as one safetensors file.
    /// - Throws: `CheckpointError.io` naming the file (e.g. a full disk); the final name is then
    ///   left untouched.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
        let (header, order) = header(for: tensors, metadata: metadata)
        let file = try AtomicFile(path: path)
        try file.write(header)
        for name in order {
            try tensors[name]!.withUnsafeBytes { try file.write($0) }
        }
        try file.commit()
    }

    /// The size of the file `write` would produce.
    public static func fileSize(of tensors: [String: Tensor], metadata: [String: String] = [:]) -> Int {
        header(for: tensors, metadata: metadata).bytes.count + tensors.values.reduce(0) { $0 + $1.byteCount }
    }
}
