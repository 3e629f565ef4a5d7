import CWire
import Tensors
import Wire

extension ParserFuzzing {
    /// An envelope frame as a peer sends it, with no tensor frames: the checks before the body
    /// (limits, protobuf, version, type, body case) and every body that carries no tensors.
    @Sendable public static func wireEnvelope(_ input: [UInt8]) {
        let frame = input.withUnsafeBytes { TensorStorage(copying: $0) }
        _ = try? WireCodec.decode([frame])
    }

    /// An envelope and the tensor frames its descriptors ask for: `InputParts.first` is the
    /// envelope, `rest` the pool the frames' bytes are cut from (zeros once it runs out). Each
    /// descriptor's checksum is set to the XXH64 of its frame before decoding, so the decoders
    /// of job messages, which live on their tensors, see frames that pass the integrity checks
    /// (a random input would almost never carry a matching 64-bit hash).
    @Sendable public static func wireMessage(_ input: [UInt8]) {
        let parts = InputParts(input)
        let envelope = Array(parts.first)
        guard let frames = matchingFrames(envelope, pool: Array(parts.rest)) else {
            _ = try? WireCodec.decode([envelope.withUnsafeBytes { TensorStorage(copying: $0) }])
            return
        }
        _ = try? WireCodec.decode(frames)
    }

    /// Largest frame built for a descriptor; a larger `byte_length` gets a frame of this size
    /// (which the decoder refuses as a size mismatch).
    static let frameLimit = 1 << 16
    /// Most frames built; more descriptors than this get none (a frame-count mismatch).
    static let frameCountLimit = 64

    /// The envelope (re-packed, its checksums fixed) and one frame per descriptor, or nil when
    /// protobuf-c does not unpack it.
    static func matchingFrames(_ envelope: [UInt8], pool: [UInt8]) -> [TensorStorage]? {
        let unpacked = envelope.withUnsafeBufferPointer { calibrate__wire__envelope__unpack(nil, $0.count, $0.baseAddress) }
        guard let unpacked else { return nil }
        defer { calibrate__wire__envelope__free_unpacked(unpacked, nil) }
        let count = unpacked.pointee.n_frames
        var frames: [TensorStorage] = []
        var used = 0
        if count <= frameCountLimit {
            for index in 0..<count {
                guard let descriptor = unpacked.pointee.frames[index] else { continue }
                let length = descriptor.pointee.has_byte_length != 0 ? Int(min(descriptor.pointee.byte_length, UInt64(frameLimit))) : 0
                let frame = TensorStorage(count: length) { buffer in
                    let available = max(0, min(length, pool.count - used))
                    for offset in 0..<length { buffer[offset] = offset < available ? pool[used + offset] : 0 }
                }
                used += length
                descriptor.pointee.checksum = XXH64.hash(frame.bytes)
                frames.append(frame)
            }
        }
        let size = calibrate__wire__envelope__get_packed_size(unpacked)
        var packed = [UInt8](repeating: 0, count: size)
        if size > 0 { packed.withUnsafeMutableBufferPointer { _ = calibrate__wire__envelope__pack(unpacked, $0.baseAddress!) } }
        return [packed.withUnsafeBytes { TensorStorage(copying: $0) }] + frames
    }
}
