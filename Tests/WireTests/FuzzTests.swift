import Tensors
import Testing
@testable import Wire
import TestSupport

/// Random and mutated envelopes: the decoder returns a message or throws a `WireError`, never
/// crashes, and a message it returns re-encodes.
@Suite("Wire fuzzing")
struct FuzzTests {
    @Test("random bytes never crash the decoder")
    func randomBytes() {
        var generator = SplitMix64(seed: 0xC0FFEE)
        var refused = 0
        for _ in 0..<2000 {
            let count = Int(generator.next() % 200)
            let envelope = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let extra = Int(generator.next() % 3)
            let frames = [frame(envelope)] + (0..<extra).map { _ in frame([1, 2, 3, 4]) }
            do {
                _ = WireCodec.encode(try WireCodec.decode(frames))
            } catch {
                refused += 1
            }
        }
        #expect(refused > 1900, "random bytes should almost never form a valid message")
    }

    @Test("mutated valid envelopes never crash the decoder", arguments: CodecTests.bodies.indices)
    func mutations(_ index: Int) {
        var generator = SplitMix64(seed: UInt64(index) &+ 17)
        let body = CodecTests.bodies[index]
        // Job values bring their own frames; other bodies get two.
        let isJob = switch body { case .request, .reply: true; default: false }
        let tensors = isJob ? [] : [NamedTensor("w", sampleTensor(.bf16, [3, 5])), NamedTensor("s", sampleTensor(.f32, [2]))]
        let original = WireCodec.encode(Message(body, tensors: tensors, jobID: "job", taskID: 9, attempt: 1))
        let envelope = bytes(of: original[0])
        for _ in 0..<300 {
            var mutated = envelope
            switch generator.next() % 4 {
            case 0:  // flip bits
                for _ in 0...(generator.next() % 4) where !mutated.isEmpty {
                    mutated[Int(generator.next() % UInt64(mutated.count))] ^= UInt8(1 << (generator.next() % 8))
                }
            case 1:  // truncate
                mutated = Array(mutated.prefix(Int(generator.next() % UInt64(mutated.count + 1))))
            case 2:  // insert random bytes
                let at = Int(generator.next() % UInt64(mutated.count + 1))
                mutated.insert(contentsOf: (0..<(1 + generator.next() % 8)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }, at: at)
            default:  // overwrite with large varints
                let at = Int(generator.next() % UInt64(mutated.count))
                for offset in at..<min(mutated.count, at + 6) { mutated[offset] = 0xFF }
            }
            var frames = original
            frames[0] = frame(mutated)
            if let decoded = try? WireCodec.decode(frames) {
                // Whatever decoded must re-encode and decode to the same message (compared as
                // envelope bytes: a mutation can make a NaN, which == would never match).
                let encoded = WireCodec.encode(decoded)
                let again = try? WireCodec.decode(encoded)
                #expect(again.map { bytes(of: WireCodec.encode($0)[0]) } == bytes(of: encoded[0]))
            }
        }
    }
}
