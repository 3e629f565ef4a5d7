import JobProtocol
import Tensors
import Testing
@testable import Wire

@Suite("Wire validation")
struct ValidationTests {
    /// A job request with two frames, sorted by name: "hinv" (F32 [8, 8], 256 bytes), "weight" (F16 [4, 8]).
    static let message = Message(
        .request(.loadLayer(index: 1, weights: ["hinv": sampleTensor(.f32, [8, 8]), "weight": sampleTensor(.f16, [4, 8], seed: 9)])),
        jobID: "j", taskID: 5, attempt: 1)

    /// Decodes `frames` and returns the error's code (nil if it decoded).
    func code(_ frames: [TensorStorage], limits: WireLimits = WireLimits()) -> ErrorCode? {
        do {
            _ = try WireCodec.decode(frames, limits: limits)
            return nil
        } catch {
            #expect(!error.message.isEmpty)
            return error.code
        }
    }

    func message(of frames: [TensorStorage]) -> String {
        do {
            _ = try WireCodec.decode(frames)
            return ""
        } catch { return error.message }
    }

    /// An envelope frame written by hand.
    func envelope(_ build: (inout ProtoWriter) -> Void) -> TensorStorage {
        var writer = ProtoWriter()
        build(&writer)
        return frame(writer.bytes)
    }

    @Test("an empty message and bytes that are not an envelope are malformed")
    func malformed() {
        #expect(code([]) == .malformed)
        #expect(code([frame([0xFF, 0xFF, 0xFF])]) == .malformed)
        #expect(code([frame([])]) == .malformed, "an empty envelope has no version")
        #expect(code([envelope { $0.field(1, varint: UInt64(WireProtocol.version)) }]) == .malformed, "no type")
    }

    @Test("a job message of another protocol version is refused, naming both versions")
    func versionMismatch() {
        var other = Self.message
        other.protocolVersion = 7
        let frames = WireCodec.encode(other)
        #expect(code(frames) == .versionMismatch)
        #expect(message(of: frames).contains("version 7"))
        #expect(message(of: frames).contains("version \(WireProtocol.version)"))
    }

    @Test("an unknown message type is refused; a type whose body is missing or different is malformed")
    func types() {
        #expect(code([envelope { $0.field(1, varint: UInt64(WireProtocol.version)); $0.field(2, varint: 59) }]) == .unknownType)
        #expect(code([envelope { $0.field(1, varint: UInt64(WireProtocol.version)); $0.field(2, varint: 0) }]) == .unknownType)
        #expect(code([envelope { $0.field(1, varint: UInt64(WireProtocol.version)); $0.field(2, varint: 11) }]) == .malformed, "Hello without a body")
        let heartbeatBody = ProtoWriter()
        #expect(code([envelope { $0.field(1, varint: UInt64(WireProtocol.version)); $0.field(2, varint: 11); $0.field(13, message: heartbeatBody) }]) == .malformed)
        // The same Heartbeat with a matching type decodes.
        #expect(code([envelope { $0.field(1, varint: UInt64(WireProtocol.version)); $0.field(2, varint: 13); $0.field(13, message: heartbeatBody) }]) == nil)
    }

    @Test("missing required fields and inverted row ranges are malformed")
    func requiredFields() {
        let empty = ProtoWriter()
        #expect(code([envelope { $0.field(1, varint: UInt64(WireProtocol.version)); $0.field(2, varint: 22); $0.field(22, message: empty) }]) == .malformed)
        var capture = ProtoWriter()
        capture.field(1, varint: 2)
        capture.field(2, varint: 9)  // no such stage
        #expect(code([envelope { $0.field(1, varint: UInt64(WireProtocol.version)); $0.field(2, varint: 24); $0.field(24, message: capture) }]) == .malformed)
        var piece = ProtoWriter()
        piece.field(1, varint: 0)
        piece.field(2, varint: 10)
        piece.field(3, varint: 10)
        var result = ProtoWriter()
        result.field(1, varint: 0)
        result.field(2, message: piece)
        let frames = [envelope { $0.field(1, varint: UInt64(WireProtocol.version)); $0.field(2, varint: 27); $0.field(27, message: result) }]
        #expect(code(frames) == .malformed)
        #expect(message(of: frames).contains("10..<10"))
        var hello = ProtoWriter()
        hello.field(2, varint: 1000)
        hello.field(3, varint: 10)
        #expect(code([envelope { $0.field(1, varint: UInt64(WireProtocol.version)); $0.field(2, varint: 11); $0.field(11, message: hello) }]) == .malformed, "timeout below interval")
    }

    @Test("descriptor and frame counts must agree")
    func frameCount() {
        let frames = WireCodec.encode(Self.message)
        #expect(code(Array(frames.dropLast())) == .frameMismatch)
        #expect(code(frames + [frame([1, 2, 3])]) == .frameMismatch)
    }

    @Test("a frame of another length, or one corrupted byte, is a frame mismatch")
    func frameContents() {
        var frames = WireCodec.encode(Self.message)
        var weight = bytes(of: frames[2])
        weight[17] ^= 0x01
        frames[2] = frame(weight)
        #expect(code(frames) == .frameMismatch)
        #expect(message(of: frames).contains("checksum"))
        frames[2] = frame(Array(weight.dropLast()))
        #expect(code(frames) == .frameMismatch)
        #expect(message(of: frames).contains("\"weight\""))
    }

    @Test("descriptors that contradict themselves are refused")
    func descriptors() {
        func withDescriptor(_ build: (inout ProtoWriter) -> Void, frameBytes: [UInt8]) -> ErrorCode? {
            var descriptor = ProtoWriter()
            build(&descriptor)
            let envelopeFrame = envelope {
                $0.field(1, varint: UInt64(WireProtocol.version))
                $0.field(2, varint: 16)
                $0.field(6, message: descriptor)
                $0.field(16, message: ProtoWriter())
            }
            return code([envelopeFrame, frame(frameBytes)])
        }
        let data: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let checksum = data.withUnsafeBytes { XXH64.hash($0) }
        // A consistent descriptor: F16 [2, 2] = 8 bytes.
        #expect(withDescriptor({ $0.field(1, string: "x"); $0.field(2, varint: 2); $0.field(3, bytes: [2, 2]); $0.field(4, varint: 8); $0.field(5, fixed64: checksum) }, frameBytes: data) == nil)
        // dtype × shape differs from byte_length.
        #expect(withDescriptor({ $0.field(1, string: "x"); $0.field(2, varint: 1); $0.field(3, bytes: [2, 2]); $0.field(4, varint: 8); $0.field(5, fixed64: checksum) }, frameBytes: data) == .frameMismatch)
        // F64 [1] is 8 bytes; 13 is no type, nor is a missing one.
        #expect(withDescriptor({ $0.field(1, string: "x"); $0.field(2, varint: 12); $0.field(3, bytes: [1]); $0.field(4, varint: 8); $0.field(5, fixed64: checksum) }, frameBytes: data) == nil)
        #expect(withDescriptor({ $0.field(1, string: "x"); $0.field(2, varint: 13); $0.field(3, bytes: [1]); $0.field(4, varint: 8); $0.field(5, fixed64: checksum) }, frameBytes: data) == .malformed)
        #expect(withDescriptor({ $0.field(1, string: "x"); $0.field(3, bytes: [8]); $0.field(4, varint: 8); $0.field(5, fixed64: checksum) }, frameBytes: data) == .malformed)
        // No name, no checksum, no length.
        #expect(withDescriptor({ $0.field(2, varint: 10); $0.field(3, bytes: [8]); $0.field(4, varint: 8); $0.field(5, fixed64: checksum) }, frameBytes: data) == .malformed)
        #expect(withDescriptor({ $0.field(1, string: "x"); $0.field(2, varint: 10); $0.field(3, bytes: [8]); $0.field(4, varint: 8) }, frameBytes: data) == .malformed)
        #expect(withDescriptor({ $0.field(1, string: "x"); $0.field(2, varint: 10); $0.field(3, bytes: [8]); $0.field(5, fixed64: checksum) }, frameBytes: data) == .malformed)
        // A shape whose size overflows.
        var huge = ProtoWriter()
        huge.varint(UInt64(Int.max))
        huge.varint(UInt64(Int.max))
        #expect(withDescriptor({ $0.field(1, string: "x"); $0.field(2, varint: 10); $0.field(3, bytes: huge.bytes); $0.field(4, varint: 8); $0.field(5, fixed64: checksum) }, frameBytes: data) == .malformed)
    }

    @Test("duplicate tensor names are malformed")
    func duplicateNames() {
        let tensor = sampleTensor(.u8, [3])
        // The encoder accepts what it is given; the receiver refuses it.
        let frames = WireCodec.encode(Message(.echo(Echo()), tensors: [NamedTensor("a", tensor), NamedTensor("a", tensor)]))
        #expect(code(frames) == .malformed)
    }

    @Test("frames, envelopes and frame counts above the limits are oversize")
    func oversize() {
        let frames = WireCodec.encode(Self.message)
        #expect(code(frames, limits: WireLimits(maxFrameBytes: 255)) == .oversize)
        #expect(code(frames, limits: WireLimits(maxFrameBytes: 256)) == nil)
        #expect(code(frames, limits: WireLimits(maxEnvelopeBytes: 16)) == .oversize)
        #expect(code(frames, limits: WireLimits(maxFrames: 1)) == .oversize)
    }

    @Test("a job request whose frames do not fit its body is refused under its task id, naming the frame")
    func jobFrames() throws {
        // An empty sequence encodes (lengths [0]) but is no sample: the decoder refuses it.
        let job = WorkerJob(jobID: "j", modelPath: nil, configJSON: [], sequences: [[1, 2], []], firstSample: 0)
        let frames = WireCodec.encode(Message(.request(.start(job, embeddings: nil)), jobID: "j", taskID: 11, attempt: 2))
        do {
            _ = try WireCodec.decode(frames)
            Issue.record("a job with an empty sequence decoded")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("lengths"), "\(error)")
            #expect(error.taskID == 11 && error.attempt == 2 && error.jobID == "j")
        }
    }

    @Test("sample lengths that are huge, negative or wrap around to the token count are refused, not indexed", arguments: [
        [Int64.max, Int64.max, 4],  // wraps to 2 with two's-complement addition
        [Int64.min, Int64.min + 2],
        [3, -1],
        [1 << 40, -(1 << 40) + 2],
        [1, 2],
    ] as [[Int64]])
    func sampleLengths(_ counts: [Int64]) {
        let tokens = Tensor.integers([Int32(1), 2], dtype: .i32, shape: [2])
        let lengths = Tensor.integers(counts, dtype: .i64, shape: [counts.count])
        #expect(throws: WireError.self) { _ = try WireCodec.decodeSequences(tokens: tokens, lengths: lengths, "JobSpec") }
        let valid = Tensor.integers([Int64(1), 1], dtype: .i64, shape: [2])
        #expect((try? WireCodec.decodeSequences(tokens: tokens, lengths: valid, "JobSpec")) == [[1], [2]])
    }

    @Test("a generated field: a missing required one is malformed, an integer that does not fit Int is refused, naming the field")
    func generatedFields() {
        var summary = ProtoWriter()
        summary.field(2, fixed64: 0)  // forward_seconds only: peak_resident_bytes missing
        let missing = [envelope { $0.field(1, varint: UInt64(WireProtocol.version)); $0.field(2, varint: 37); $0.field(37, message: summary) }]
        #expect(code(missing) == .malformed)
        #expect(message(of: missing).contains("JobSummary.peak_resident_bytes is missing"))
        var huge = ProtoWriter()
        huge.field(1, varint: UInt64.max)
        let overflow = [envelope { $0.field(1, varint: UInt64(WireProtocol.version)); $0.field(2, varint: 37); $0.field(37, message: huge) }]
        #expect(code(overflow) == .malformed)
        #expect(message(of: overflow).contains("JobSummary.peak_resident_bytes is \(UInt64.max)"))
    }
}
