import Tensors

/// The transport's own first frame, which a `ZMQTransport` puts before a message's frames when
/// the message travels in chunks (or when its first frame could be mistaken for this header).
///
/// A message whose frames add up to at most the chunk size travels as one ZeroMQ multipart
/// message of exactly its frames, without this header: the framing of protocol version 2, so a
/// Hello, a Welcome, an Error and every heartbeat are byte for byte what older peers send, and a
/// version mismatch is still refused by the handshake. A header is recognised by its magic,
/// `00 63 68 6B` ("\0chk"): a protobuf message cannot begin with a zero byte (field number 0 does
/// not exist), so no calibrate envelope starts with it.
///
/// Layout, little-endian:
///
/// | bytes | field | |
/// | --- | --- | --- |
/// | 0–3 | magic | `00 63 68 6B` |
/// | 4 | layout | 1 |
/// | 5 | kind | 0: a whole message follows (frames 1…n); 1: one chunk, its bytes in frame 1 |
/// | 6–7 | reserved | 0 |
/// | 8–15 | sequence | chunk only: the message's number among those sent to this peer (from 1), the same in each of its chunks |
/// | 16–19 | frame count | chunk only: how many frames the message has (≥ 1) |
/// | 20–23 | frame index | chunk only: the frame these bytes belong to |
/// | 24–31 | frame size | chunk only: that frame's size in bytes |
/// | 32–39 | offset | chunk only: where in that frame these bytes start |
///
/// A whole header is 8 bytes, a chunk header 40.
struct ChunkHeader: Equatable {
    /// What follows the header.
    enum Kind: UInt8 {
        /// The message's own frames (frames 1…n of this ZeroMQ message).
        case whole = 0
        /// One piece of one frame of a chunked message (frame 1 of this ZeroMQ message).
        case chunk = 1
    }

    static let magic: [UInt8] = [0x00, 0x63, 0x68, 0x6B]
    static let layout: UInt8 = 1
    static let wholeSize = 8
    static let chunkSize = 40

    var kind: Kind
    var sequence: UInt64 = 0
    var frameCount: UInt32 = 0
    var frameIndex: UInt32 = 0
    var frameSize: UInt64 = 0
    var offset: UInt64 = 0

    /// The header of a whole message.
    static let whole = ChunkHeader(kind: .whole)

    /// Whether `frame` begins with the magic, i.e. is meant as a header (a valid one or not).
    static func marks(_ frame: TensorStorage) -> Bool {
        withExtendedLifetime(frame) {
            frame.bytes.count >= magic.count && frame.bytes.prefix(magic.count).elementsEqual(magic)
        }
    }

    /// The header as a frame (8 or 40 bytes).
    func encoded() -> TensorStorage {
        let size = kind == .whole ? Self.wholeSize : Self.chunkSize
        return TensorStorage(count: size) { buffer in
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            for (index, byte) in Self.magic.enumerated() { buffer[index] = byte }
            buffer[4] = Self.layout
            buffer[5] = kind.rawValue
            guard kind == .chunk else { return }
            buffer.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt64.self)
            buffer.storeBytes(of: frameCount.littleEndian, toByteOffset: 16, as: UInt32.self)
            buffer.storeBytes(of: frameIndex.littleEndian, toByteOffset: 20, as: UInt32.self)
            buffer.storeBytes(of: frameSize.littleEndian, toByteOffset: 24, as: UInt64.self)
            buffer.storeBytes(of: offset.littleEndian, toByteOffset: 32, as: UInt64.self)
        }
    }

    /// The header in `frame`, which begins with the magic (`marks(frame)`).
    /// - Throws: `ChunkError` naming the field: a size that is not 8 or 40 bytes as the kind
    ///   says, another layout, an unknown kind, reserved bytes that are not zero.
    static func parse(_ frame: TensorStorage) throws(ChunkError) -> ChunkHeader {
        let bytes = frame.bytes
        let result: Result<ChunkHeader, ChunkError> = withExtendedLifetime(frame) {
            guard bytes.count >= wholeSize else {
                return .failure(ChunkError("a transport header of \(bytes.count) bytes; expected 8 (whole) or 40 (chunk)"))
            }
            guard bytes[4] == layout else { return .failure(ChunkError("transport header layout \(bytes[4]); this side reads layout \(layout)")) }
            guard let kind = Kind(rawValue: bytes[5]) else {
                return .failure(ChunkError("transport header kind \(bytes[5]); expected 0 (whole) or 1 (chunk)"))
            }
            guard bytes[6] == 0 && bytes[7] == 0 else { return .failure(ChunkError("transport header bytes 6–7 are not zero")) }
            let expected = kind == .whole ? wholeSize : chunkSize
            guard bytes.count == expected else {
                return .failure(ChunkError("a \(kind) transport header of \(bytes.count) bytes; expected \(expected)"))
            }
            guard kind == .chunk else { return .success(.whole) }
            return .success(ChunkHeader(
                kind: .chunk,
                sequence: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                frameCount: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self)),
                frameIndex: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 20, as: UInt32.self)),
                frameSize: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self)),
                offset: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 32, as: UInt64.self))))
        }
        return try result.get()
    }
}

/// A chunk or header a peer got wrong; the message says which field and what was expected.
struct ChunkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
