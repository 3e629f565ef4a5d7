import CWire
import Tensors

#if canImport(Glibc)
import Glibc
#endif

/// Encoding and decoding of messages: the one place where protobuf-c is called.
///
/// A message travels as frames: frame 0 is the packed `Envelope`, frames 1…n are the tensors'
/// bytes, unchanged (`encode` returns the tensors' own storage, so nothing is copied). protobuf-c
/// structs never leave this type: `decode` unpacks, copies every field into Swift values,
/// validates, and frees the unpacked envelope before it returns.
public enum WireCodec {
    /// The frames of `message`: its envelope, then each tensor's storage (not copied).
    /// - Precondition: tensor names are unique and non-empty; numeric fields fit their wire types
    ///   (a layer index fits in 32 bits…). Violations are programming errors, not input errors.
    public static func encode(_ message: Message) -> [TensorStorage] {
        let arena = CArena()
        var envelope = Calibrate__Wire__Envelope()
        calibrate__wire__envelope__init(&envelope)
        envelope.has_protocol_version = 1
        envelope.protocol_version = message.protocolVersion
        envelope.has_type = 1
        envelope.type = Calibrate__Wire__MessageType(rawValue: message.type.rawValue)
        envelope.job_id = message.jobID.isEmpty ? nil : arena.string(message.jobID)
        envelope.has_task_id = 1
        envelope.task_id = message.taskID
        envelope.has_attempt = 1
        envelope.attempt = message.attempt
        envelope.n_frames = message.tensors.count
        envelope.frames = arena.array(message.tensors.map { descriptor(of: $0, arena: arena) })
        setBody(message.body, of: &envelope, arena: arena)

        let size = calibrate__wire__envelope__get_packed_size(&envelope)
        let packed = TensorStorage(count: size) { buffer in
            let written = calibrate__wire__envelope__pack(&envelope, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
            precondition(written == size, "protobuf-c packed \(written) bytes of \(size)")
        }
        withExtendedLifetime(arena) {}
        return [packed] + message.tensors.map(\.tensor.storage)
    }

    /// The message held by `frames`, validated.
    ///
    /// Checks, in order: an envelope is present and within `limits`; it decodes; it has a version
    /// and a type; its version is `protocolVersion` (except Hello, Welcome and Error, whose layout
    /// is frozen so that a mismatch can be reported; the caller checks their version); the type is
    /// known and matches the body; required fields are present and in range; and each descriptor
    /// matches its frame: count, name, dtype, dtype × shape = byte length = frame size ≤
    /// `limits.maxFrameBytes`, and the XXH64 checksum.
    /// - Throws: `WireError` whose code says which check failed and whose message names the field
    ///   or frame, the expected and the found value.
    public static func decode(
        _ frames: [TensorStorage], limits: WireLimits = WireLimits(), protocolVersion: UInt32 = WireProtocol.version
    ) throws(WireError) -> Message {
        guard let first = frames.first else { throw WireError(.malformed, "an empty message: no envelope frame") }
        guard first.bytes.count <= limits.maxEnvelopeBytes else {
            throw WireError(.oversize, "envelope of \(first.bytes.count) bytes; the limit is \(limits.maxEnvelopeBytes)")
        }
        guard frames.count - 1 <= limits.maxFrames else {
            throw WireError(.oversize, "\(frames.count - 1) tensor frames; the limit is \(limits.maxFrames)")
        }
        let unpacked = withExtendedLifetime(first) {
            calibrate__wire__envelope__unpack(nil, first.bytes.count, first.bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
        }
        guard let unpacked else {
            throw WireError(.malformed, "frame 0 (\(first.bytes.count) bytes) is not a calibrate Envelope")
        }
        defer { calibrate__wire__envelope__free_unpacked(unpacked, nil) }
        return try message(from: unpacked.pointee, frames: frames, limits: limits, protocolVersion: protocolVersion)
    }

    private static func message(
        from envelope: Calibrate__Wire__Envelope, frames: [TensorStorage], limits: WireLimits, protocolVersion: UInt32
    ) throws(WireError) -> Message {
        guard envelope.has_protocol_version != 0 else { throw WireError(.malformed, "the envelope has no protocol_version") }
        guard envelope.has_type != 0 else { throw WireError(.malformed, "the envelope has no message type") }
        let version = envelope.protocol_version
        let type = MessageType(rawValue: envelope.type.rawValue)
        let versionIndependent = type.map { WireProtocol.versionIndependentTypes.contains($0) } ?? false
        guard version == protocolVersion || versionIndependent else {
            let name = type.map { "\($0)" } ?? "type \(envelope.type.rawValue)"
            throw WireError(.versionMismatch, "a \(name) message of protocol version \(version); this side speaks version \(protocolVersion)")
        }
        guard let type else {
            throw WireError(.unknownType, "message type \(envelope.type.rawValue) is unknown to protocol version \(protocolVersion)")
        }
        guard envelope.body_case.rawValue == type.rawValue else {
            let found = envelope.body_case.rawValue == 0 ? "no body" : "body field \(envelope.body_case.rawValue)"
            throw WireError(.malformed, "the envelope says \(type) but holds \(found)")
        }
        let (jobID, taskID, attempt) = (string(envelope.job_id), envelope.has_task_id != 0 ? envelope.task_id : 0,
                                        envelope.has_attempt != 0 ? envelope.attempt : 0)
        do {
            let tensors = try decodeTensors(envelope, frames: frames, limits: limits)
            let body = try decodeBody(of: envelope, type: type, tensors: tensors)
            return Message(decoded: body, frames: tensors, jobID: jobID, taskID: taskID, attempt: attempt, protocolVersion: version)
        } catch {
            // The header decoded: the error says which task it concerns, so the peer can answer it.
            var located = error
            (located.jobID, located.taskID, located.attempt) = (jobID, taskID, attempt)
            throw located
        }
    }

    // MARK: Tensor frames

    private static func descriptor(of named: NamedTensor, arena: CArena) -> UnsafeMutablePointer<Calibrate__Wire__FrameDescriptor>? {
        precondition(!named.name.isEmpty, "a tensor frame needs a name")
        var descriptor = Calibrate__Wire__FrameDescriptor()
        calibrate__wire__frame_descriptor__init(&descriptor)
        descriptor.name = arena.string(named.name)
        descriptor.has_dtype = 1
        descriptor.dtype = Calibrate__Wire__DType(rawValue: named.tensor.dtype.wireValue)
        descriptor.n_shape = named.tensor.shape.count
        descriptor.shape = arena.array(named.tensor.shape.map { UInt64($0) })
        descriptor.has_byte_length = 1
        descriptor.byte_length = UInt64(named.tensor.byteCount)
        descriptor.has_checksum = 1
        descriptor.checksum = named.checksum
        return arena.object(descriptor)
    }

    private static func decodeTensors(
        _ envelope: Calibrate__Wire__Envelope, frames: [TensorStorage], limits: WireLimits
    ) throws(WireError) -> [NamedTensor] {
        guard envelope.n_frames == frames.count - 1 else {
            throw WireError(.frameMismatch, "the envelope describes \(envelope.n_frames) tensor frame(s); the message has \(frames.count - 1)")
        }
        var tensors: [NamedTensor] = []
        tensors.reserveCapacity(envelope.n_frames)
        var names = Set<String>()
        for index in 0..<envelope.n_frames {
            guard let descriptor = envelope.frames[index]?.pointee else {
                throw WireError(.malformed, "frame \(index + 1) has no descriptor")
            }
            let tensor = try decodeTensor(descriptor, frame: frames[index + 1], number: index + 1, limits: limits)
            guard names.insert(tensor.name).inserted else {
                throw WireError(.malformed, "frame \(index + 1): the name \"\(tensor.name)\" appears twice")
            }
            tensors.append(tensor)
        }
        return tensors
    }

    private static func decodeTensor(
        _ descriptor: Calibrate__Wire__FrameDescriptor, frame: TensorStorage, number: Int, limits: WireLimits
    ) throws(WireError) -> NamedTensor {
        let name = string(descriptor.name)
        let label = name.isEmpty ? "frame \(number)" : "frame \(number) (\"\(name)\")"
        guard !name.isEmpty else { throw WireError(.malformed, "\(label) has no name") }
        guard descriptor.has_byte_length != 0 else { throw WireError(.malformed, "\(label) has no byte_length") }
        guard descriptor.byte_length <= UInt64(limits.maxFrameBytes), frame.bytes.count <= limits.maxFrameBytes else {
            throw WireError(.oversize, "\(label) holds \(max(descriptor.byte_length, UInt64(frame.bytes.count))) bytes; the limit is \(limits.maxFrameBytes)")
        }
        guard descriptor.has_dtype != 0, let dtype = DType(wireValue: descriptor.dtype.rawValue) else {
            let found = descriptor.has_dtype != 0 ? "dtype \(descriptor.dtype.rawValue)" : "no dtype"
            throw WireError(.malformed, "\(label) has \(found); expected one of \(DType.supportedNames)")
        }
        var shape: [Int] = []
        for axis in 0..<descriptor.n_shape {
            let size = descriptor.shape[axis]
            guard size <= UInt64(Int.max) else { throw WireError(.malformed, "\(label): dimension \(axis) is \(size)") }
            shape.append(Int(size))
        }
        let expected: Int
        do { expected = try Tensor.byteCount(dtype: dtype, shape: shape) } catch {
            throw WireError(.malformed, "\(label): \(error)")
        }
        guard descriptor.byte_length == UInt64(expected) else {
            throw WireError(.frameMismatch, "\(label): byte_length \(descriptor.byte_length), but \(dtype.rawValue) \(shape) is \(expected) bytes")
        }
        guard frame.bytes.count == expected else {
            throw WireError(.frameMismatch, "\(label): the descriptor says \(expected) bytes, the frame holds \(frame.bytes.count)")
        }
        guard descriptor.has_checksum != 0 else { throw WireError(.malformed, "\(label) has no checksum") }
        let checksum = withExtendedLifetime(frame) { XXH64.hash(frame.bytes) }
        guard checksum == descriptor.checksum else {
            throw WireError(.frameMismatch, "\(label): checksum \(hex(descriptor.checksum)) in the descriptor, \(hex(checksum)) computed from the bytes")
        }
        guard let tensor = try? Tensor(dtype: dtype, shape: shape, storage: frame) else {
            throw WireError(.frameMismatch, "\(label): \(dtype.rawValue) \(shape) does not fit \(frame.bytes.count) bytes")
        }
        return NamedTensor(name: name, tensor: tensor, verifiedChecksum: checksum)
    }

    // MARK: Field helpers (used by the WireCodec+… files)

    /// A C string as a Swift string ("" for NULL).
    static func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        pointer.map { String(cString: $0) } ?? ""
    }

    /// A required scalar field.
    static func required<T>(_ has: protobuf_c_boolean, _ value: T, _ field: String) throws(WireError) -> T {
        guard has != 0 else { throw WireError(.malformed, "\(field) is missing") }
        return value
    }

    /// A required, non-empty string field.
    static func requiredString(_ pointer: UnsafeMutablePointer<CChar>?, _ field: String) throws(WireError) -> String {
        guard let pointer, pointer.pointee != 0 else { throw WireError(.malformed, "\(field) is missing") }
        return String(cString: pointer)
    }

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}

/// C memory for one `encode`: strings, arrays and nested messages the envelope points to, all
/// allocated with malloc and freed together once the envelope is packed.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit {
        for block in blocks { free(block) }
    }

    /// A C copy of `text`.
    func string(_ text: String) -> UnsafeMutablePointer<CChar> {
        let copy = strdup(text)!
        blocks.append(copy)
        return copy
    }

    /// A heap copy of `value`.
    func object<T>(_ value: T) -> UnsafeMutablePointer<T> {
        let raw = malloc(MemoryLayout<T>.stride)!
        blocks.append(raw)
        let pointer = raw.bindMemory(to: T.self, capacity: 1)
        pointer.initialize(to: value)
        return pointer
    }

    /// A heap copy of `values` (nil when empty, as protobuf-c expects for an empty repeated field).
    func array<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let raw = malloc(MemoryLayout<T>.stride * values.count)!
        blocks.append(raw)
        let pointer = raw.bindMemory(to: T.self, capacity: values.count)
        _ = UnsafeMutableBufferPointer(start: pointer, count: values.count).initialize(from: values)
        return pointer
    }
}
