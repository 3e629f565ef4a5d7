import JobProtocol
import Kernels
import Model
import ParserFuzzing
import Tensors
import Testing
@testable import Wire

@Suite("Wire codec round trips")
struct CodecTests {
    /// One body of every message type, with every optional field set, and some without. The job
    /// values carry small tensors; JobOverWireTests round-trips every request and reply of real
    /// jobs (GPTQ factors, statistics, quantized weights).
    static let bodies: [Body] = WireSamples.bodies

    @Test("every message type survives encode → decode", arguments: bodies)
    func roundTrip(_ body: Body) throws {
        let message = Message(body, jobID: "job-7", taskID: 123_456_789_012, attempt: 3)
        let decoded = try WireCodec.decode(WireCodec.encode(message))
        #expect(decoded.body == body)
        #expect(decoded.type == body.type)
        #expect(decoded.jobID == "job-7")
        #expect(decoded.taskID == 123_456_789_012)
        #expect(decoded.attempt == 3)
        #expect(decoded.protocolVersion == WireProtocol.version)
        #expect(decoded.tensors.map(\.name) == message.tensors.map(\.name))
        #expect(decoded.tensors.map(\.tensor) == message.tensors.map(\.tensor))
    }

    @Test("a job's id is the envelope's: a decoded start carries it")
    func jobID() throws {
        guard case .request(.start(let job, _)) = Self.bodies.first(where: { $0.type == .jobSpec }) else { return }
        let decoded = try WireCodec.decode(WireCodec.encode(Message(.request(.start(job, embeddings: nil)), jobID: "job-42")))
        guard case .request(.start(let received, _)) = decoded.body else {
            Issue.record("decoded \(decoded.type)")
            return
        }
        #expect(received.jobID == "job-42")
    }

    @Test("every message type is covered by the round trips")
    func coverage() {
        #expect(Set(Self.bodies.map(\.type)) == Set(MessageType.allCases))
    }

    @Test("tensors travel as their own storage, with names, dtypes, shapes and bytes intact")
    func tensors() throws {
        let tensors = [
            NamedTensor("hinv", sampleTensor(.f32, [7, 7], seed: 1)),
            NamedTensor("weight", sampleTensor(.bf16, [3, 7], seed: 2)),
            NamedTensor("perm", sampleTensor(.i64, [7], seed: 3)),
            NamedTensor("scalar", sampleTensor(.f16, [], seed: 4)),
            NamedTensor("empty", sampleTensor(.u8, [0, 5], seed: 5)),
            NamedTensor("mask", sampleTensor(.bool, [33], seed: 6)),
        ]
        let message = Message(.echo(Echo()), tensors: tensors)
        let frames = WireCodec.encode(message)
        #expect(frames.count == tensors.count + 1)
        for (index, named) in tensors.enumerated() {
            #expect(frames[index + 1] === named.tensor.storage, "frame \(index + 1) is a copy")
        }
        let decoded = try WireCodec.decode(frames)
        #expect(decoded.tensors.map(\.name) == tensors.map(\.name))
        for (got, sent) in zip(decoded.tensors, tensors) {
            #expect(got.tensor.dtype == sent.tensor.dtype)
            #expect(got.tensor.shape == sent.tensor.shape)
            #expect(got.checksum == sent.checksum)
            #expect(bytes(of: got.tensor.storage) == bytes(of: sent.tensor.storage))
        }
        #expect(try decoded.requireTensor(named: "perm").shape == [7])
        #expect(throws: WireError.self) { try decoded.requireTensor(named: "codes") }
    }

    @Test("Hello, Welcome and Error of another version decode, so a mismatch can be reported")
    func versionIndependentTypes() throws {
        for body in Self.bodies where WireProtocol.versionIndependentTypes.contains(body.type) {
            let message = Message(body, protocolVersion: WireProtocol.version + 1)
            let decoded = try WireCodec.decode(WireCodec.encode(message))
            #expect(decoded.protocolVersion == WireProtocol.version + 1)
            #expect(decoded.body == body)
        }
    }

    @Test("the tensors' dtype enum matches calibrate.proto's for every type")
    func dtypes() {
        for dtype in DType.allCases {
            #expect(DType(wireValue: dtype.wireValue) == dtype)
        }
        #expect(Set(DType.allCases.map(\.wireValue)).count == DType.allCases.count)
        #expect(DType(wireValue: 0) == nil)
        #expect(DType(wireValue: 12) == .f64)
        #expect(DType(wireValue: 13) == nil)
    }
}
