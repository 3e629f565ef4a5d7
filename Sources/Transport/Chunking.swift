import Tensors

/// How a `ZMQTransport` cuts a message into the ZeroMQ messages it sends (see `ChunkHeader`).
///
/// ZeroMQ hands a multipart message to its receiver only once all of it has arrived, so a 3 GB
/// frame is 3 s of silence at 1 GB/s, and whatever is queued behind it (a heartbeat) waits as
/// long. A message whose frames add up to more than the chunk size is therefore sent as a
/// sequence of ZeroMQ messages, `[header, bytes]`, each carrying at most `chunkBytes` of one
/// frame, frame after frame, in order; the receiver sees every chunk arrive (which is what
/// liveness is judged by: `Transport.lastReceived(from:)`) and reassembles the frames
/// (`Reassembly`). Chunks view the frames' storage: nothing is copied on the way out.
enum Chunking {
    /// The ZeroMQ messages that carry `frames`: the frames themselves when they add up to at most
    /// `chunkBytes` (behind a whole-message header if the first frame begins with the header's
    /// magic), else the chunks of message number `sequence`.
    /// - Precondition: `frames` is not empty; `chunkBytes` > 0.
    static func messages(for frames: [TensorStorage], sequence: UInt64, chunkBytes: Int) -> [[TensorStorage]] {
        precondition(!frames.isEmpty && chunkBytes > 0, "a message has at least one frame; a chunk at least one byte")
        if !needsChunks(frames, chunkBytes: chunkBytes) {
            return [ChunkHeader.marks(frames[0]) ? [ChunkHeader.whole.encoded()] + frames : frames]
        }
        var messages: [[TensorStorage]] = []
        for (index, frame) in frames.enumerated() {
            let size = frame.bytes.count
            var offset = 0
            repeat {
                let count = min(chunkBytes, size - offset)
                let header = ChunkHeader(
                    kind: .chunk, sequence: sequence, frameCount: UInt32(frames.count), frameIndex: UInt32(index),
                    frameSize: UInt64(size), offset: UInt64(offset))
                messages.append([header.encoded(), piece(of: frame, at: offset, count: count)])
                offset += count
            } while offset < size
        }
        return messages
    }

    /// Whether `frames` add up to more than `chunkBytes` (and so go in chunks).
    static func needsChunks(_ frames: [TensorStorage], chunkBytes: Int) -> Bool {
        var total = 0
        for frame in frames {
            total += frame.bytes.count
            if total > chunkBytes { return true }
        }
        return false
    }

    /// `count` bytes of `frame` from `offset`, as storage that keeps `frame` alive (no copy).
    private static func piece(of frame: TensorStorage, at offset: Int, count: Int) -> TensorStorage {
        if offset == 0 && count == frame.bytes.count { return frame }
        let bytes = UnsafeRawBufferPointer(rebasing: frame.bytes[offset..<(offset + count)])
        return TensorStorage(viewing: bytes, owner: frame)
    }
}
