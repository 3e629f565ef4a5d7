#if canImport(Glibc)
import Glibc
#endif
import Tensors

/// What one peer's chunks add up to: the receiving half of `Chunking`, one per peer, confined to
/// the socket thread.
///
/// Chunks must arrive as `Chunking` sends them: frame after frame, each from offset 0 without
/// gaps, every chunk of a message under its sequence number, no other message in between (a
/// sender never interleaves, and ZeroMQ keeps a connection's messages in order). Anything else —
/// a header that does not parse, a chunk that does not continue the message being assembled, a
/// declared frame larger than `maxFrameBytes`, a whole message while a chunked one is incomplete —
/// drops the incomplete message, and the outcome says why; the rest of that message's chunks are
/// then ignored without further reports, and the next message is assembled afresh. The peer
/// itself is not dropped: that is for the layer above, which never sees the broken message.
///
/// Memory: a peer not admitted (a listener's peer without a session) cannot send chunks at all.
/// An admitted peer's frame (declared at most `maxFrameBytes`) gets a buffer that grows with
/// the bytes that arrive — 4 MiB at first, doubled as needed up to the declared size — so a
/// header that claims gigabytes reserves nothing it has not sent; what a peer can make this
/// side hold is at most twice what it has sent. A buffer that cannot be allocated drops the
/// message, not the process.
///
/// Cost: a frame that came in one chunk is delivered as received (no copy); a larger frame is
/// copied once, chunk by chunk, into a 64-byte aligned buffer of its own — one memcpy of the
/// frame, at memory speed (≈ 10 GB/s here), next to a transfer at network speed — plus, for a
/// frame above 4 MiB, the copies of its growth (together less than the frame once more).
struct Reassembly {
    /// The result of one inbound ZeroMQ message.
    struct Outcome {
        /// A message complete with this chunk (or a whole message), to deliver.
        var message: [TensorStorage]?
        /// Why an incomplete message (or this one) was dropped, for the transport's diagnostics.
        var problem: String?
    }

    /// A chunked message being assembled.
    private struct Partial {
        let sequence: UInt64
        let frameCount: UInt32
        var frames: [TensorStorage] = []
        /// The frame being filled (its first chunk has arrived, its last not yet).
        var current: (buffer: ReassemblyBuffer, filled: Int)?

        /// Where the message stands, for reports.
        var position: String {
            guard let current else { return "\(frames.count) of \(frameCount) frames complete" }
            return "frame \(frames.count) of \(frameCount), byte \(current.filled) of \(current.buffer.size)"
        }
    }

    private let maxFrameBytes: Int
    private var partial: Partial?
    /// Messages dropped before they were complete (since the last delivery, at most a few): their
    /// later chunks are ignored quietly.
    private var discarding: Set<UInt64> = []

    init(maxFrameBytes: Int) { self.maxFrameBytes = maxFrameBytes }

    /// Takes one ZeroMQ message from the peer (`frames` as received, at least one).
    /// - Parameter admitted: whether the peer may send chunked messages (`Transport.admit`).
    mutating func receive(_ frames: [TensorStorage], admitted: Bool = true) -> Outcome {
        guard let first = frames.first, ChunkHeader.marks(first) else { return whole(frames) }
        let header: ChunkHeader
        do { header = try ChunkHeader.parse(first) } catch {
            return Outcome(problem: dropPartial(because: "\(error)") ?? "\(error): message dropped")
        }
        switch header.kind {
        case .whole:
            return whole(Array(frames.dropFirst()))
        case .chunk:
            guard admitted else {
                if discarding.contains(header.sequence) { return Outcome() }
                return refuse("the peer has no session: only whole messages of at most a chunk are taken from it", header)
            }
            return chunk(header, frames: frames)
        }
    }

    /// A message that came in one ZeroMQ message: delivered, ending any incomplete one.
    private mutating func whole(_ frames: [TensorStorage]) -> Outcome {
        guard !frames.isEmpty else {
            return Outcome(problem: dropPartial(because: "a whole message without frames") ?? "a whole message without frames: dropped")
        }
        let problem = dropPartial(because: "a whole message arrived")
        discarding.removeAll()
        return Outcome(message: frames, problem: problem)
    }

    private mutating func chunk(_ header: ChunkHeader, frames: [TensorStorage]) -> Outcome {
        guard frames.count == 2 else { return refuse("comes with \(frames.count - 1) data frames; expected 1", header) }
        let data = frames[1]
        let count = UInt64(data.bytes.count)
        guard header.frameCount >= 1, header.frameIndex < header.frameCount else {
            return refuse("the frame index is not below the frame count", header)
        }
        guard header.frameSize <= UInt64(maxFrameBytes) else {
            return refuse("the frame is larger than the limit of \(maxFrameBytes) bytes", header)
        }
        guard header.offset <= header.frameSize, count <= header.frameSize - header.offset else {
            return refuse("carries \(count) bytes, which do not fit in the frame", header)
        }
        guard count > 0 || header.frameSize == 0 else { return refuse("carries no bytes of its frame", header) }
        if header.frameIndex == 0 && header.offset == 0 {
            let problem = dropPartial(because: "message \(header.sequence) began")
            discarding.remove(header.sequence)
            partial = Partial(sequence: header.sequence, frameCount: header.frameCount)
            var outcome = append(data, header)
            outcome.problem = problem
            return outcome
        }
        guard let current = partial, current.sequence == header.sequence else {
            if discarding.contains(header.sequence) { return Outcome() }
            return refuse("arrived without its message's first chunk", header)
        }
        let continues = current.frameCount == header.frameCount && UInt64(current.frames.count) == UInt64(header.frameIndex)
            && UInt64(current.current?.filled ?? 0) == header.offset
            && (current.current.map { UInt64($0.buffer.size) == header.frameSize } ?? true)
        guard continues else { return refuse("does not continue message \(current.sequence) at \(current.position)", header) }
        return append(data, header)
    }

    /// Adds `data` (a chunk that continues the partial message) and delivers the message once whole.
    private mutating func append(_ data: TensorStorage, _ header: ChunkHeader) -> Outcome {
        guard var assembling = partial else { return Outcome() }
        partial = nil
        let size = Int(header.frameSize)
        if header.offset == 0 && data.bytes.count == size {
            assembling.frames.append(data)
        } else {
            guard let current = assembling.current ?? ReassemblyBuffer(size: size).map({ (buffer: $0, filled: 0) }),
                  current.buffer.copy(data, at: current.filled) else {
                partial = assembling
                return Outcome(problem: dropPartial(because: "no memory for a frame of \(size) bytes"))
            }
            let (buffer, filled) = current
            if filled + data.bytes.count == size {
                assembling.frames.append(buffer.storage())
                assembling.current = nil
            } else {
                assembling.current = (buffer, filled + data.bytes.count)
            }
        }
        if assembling.frames.count == Int(assembling.frameCount) {
            discarding.removeAll()
            return Outcome(message: assembling.frames)
        }
        partial = assembling
        return Outcome()
    }

    /// Drops this chunk's message and the incomplete one, if another; their later chunks are
    /// ignored quietly.
    /// - Parameter problem: what is wrong with the chunk, said after a description of it.
    private mutating func refuse(_ problem: String, _ header: ChunkHeader) -> Outcome {
        let chunk = "a chunk of message \(header.sequence) (frame \(header.frameIndex) of \(header.frameCount), "
            + "\(header.frameSize) bytes, offset \(header.offset)): \(problem)"
        var report = "\(chunk): message \(header.sequence) dropped"
        if let dropped = partial, dropped.sequence != header.sequence {
            report = dropPartial(because: chunk) ?? report
        }
        partial = nil
        discard(header.sequence)
        return Outcome(problem: report)
    }

    /// Drops the incomplete message, if any; returns what to report.
    private mutating func dropPartial(because reason: String) -> String? {
        guard let dropped = partial else { return nil }
        partial = nil
        discard(dropped.sequence)
        return "\(reason) while message \(dropped.sequence) was incomplete (\(dropped.position)): message \(dropped.sequence) dropped"
    }

    /// Ignores `sequence`'s later chunks; the set is bounded (a peer that keeps breaking messages
    /// without completing one gets reports for old ones again).
    private mutating func discard(_ sequence: UInt64) {
        if discarding.count >= 16 { discarding.removeAll() }
        discarding.insert(sequence)
    }
}

/// A frame being reassembled: one 64-byte aligned allocation that grows as chunks arrive (up to
/// the frame's declared size), filled on the socket thread, then handed out, read-only, as the
/// storage of the delivered frame.
final class ReassemblyBuffer {
    /// The frame's declared size: the delivered storage has this many bytes.
    let size: Int
    private var base: UnsafeMutableRawPointer
    /// Bytes allocated so far.
    private(set) var capacity: Int

    /// The first allocation of a frame larger than this is this large; it doubles as needed.
    static let initialCapacity = 4 << 20

    /// A buffer for a frame of `size` bytes, or nil when its first allocation fails.
    init?(size: Int) {
        self.size = size
        capacity = min(size, Self.initialCapacity)
        guard let base = Self.allocate(capacity) else { return nil }
        self.base = base
    }

    deinit { free(base) }

    /// Copies `data` to `offset` (the caller checked that it fits the frame), growing the
    /// allocation first if needed; false when it cannot grow.
    func copy(_ data: TensorStorage, at offset: Int) -> Bool {
        let end = offset + data.bytes.count
        if end > capacity {
            let grown = min(size, max(capacity * 2, end))
            guard let larger = Self.allocate(grown) else { return false }
            larger.copyMemory(from: base, byteCount: offset)
            free(base)
            (base, capacity) = (larger, grown)
        }
        guard let source = data.bytes.baseAddress, data.bytes.count > 0 else { return true }
        withExtendedLifetime(data) { (base + offset).copyMemory(from: source, byteCount: data.bytes.count) }
        return true
    }

    /// The filled buffer as frame storage, which keeps this buffer alive. No write may follow.
    func storage() -> TensorStorage {
        TensorStorage(viewing: UnsafeRawBufferPointer(start: base, count: size), owner: self)
    }

    /// `count` bytes (at least 1) aligned to 64, or nil when the system has no memory for them.
    private static func allocate(_ count: Int) -> UnsafeMutableRawPointer? {
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, 64, max(count, 1)) == 0 else { return nil }
        return pointer
    }
}
