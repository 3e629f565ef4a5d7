import Foundation
@testable import ParserFuzzing
import TestSupport
import Testing
import Tokenizer
import Wire

/// Every seed and every reproducer of the fuzz targets, replayed through the same entry points the
/// libFuzzer driver calls: each returns or throws inside its target (a trap or a memory error
/// would end the test process). Reproducers are the inputs fuzzing found, kept as
/// `Reproducers/<target>-<fault>` once the parser was fixed.
@Suite("parser fuzzing replays")
struct ReplayTests {
    static let targetNames = ParserFuzzing.targets.map(\.name)

    /// The reproducer files, by name.
    static let reproducers: [String] = {
        let folder = Bundle.module.resourcePath! + "/Reproducers"
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }()

    /// The target a reproducer's name starts with (the longest, as one name may prefix another).
    static func target(ofReproducer name: String) -> ParserFuzzing.Target? {
        ParserFuzzing.targets.filter { name.hasPrefix($0.name + "-") }.max { $0.name.count < $1.name.count }
    }

    @Test("every seed returns or throws", arguments: targetNames)
    func seeds(_ name: String) throws {
        let target = try #require(ParserFuzzing.target(named: name))
        let seeds = Seeds.all(for: name, root: Repository.root)
        #expect(!seeds.isEmpty, "\(name) has no seeds")
        for seed in seeds { target.run(seed.bytes) }
    }

    @Test("every reproducer returns or throws", arguments: reproducers)
    func reproducer(_ name: String) throws {
        let target = try #require(Self.target(ofReproducer: name), "\(name) does not start with a target's name")
        let data = try #require(FileManager.default.contents(atPath: Bundle.module.resourcePath! + "/Reproducers/" + name))
        target.run([UInt8](data))
    }

    @Test("the targets have distinct names and bounded inputs")
    func targets() {
        #expect(Set(Self.targetNames).count == Self.targetNames.count)
        for target in ParserFuzzing.targets { #expect((1...(1 << 20)).contains(target.maxLength), "\(target.name)") }
    }

    @Test("the wire seeds hold every message type, and the small tokenizer parses")
    func builtInputs() {
        #expect(Set(WireSamples.bodies.map(\.type)) == Set(MessageType.allCases))
        #expect(SmallTokenizer.tokenizer.vocabularySize == 261)
        #expect(SmallTokenizer.tokenizer.encode(" the") == [258])
    }

    @Test("an input cut into parts joins back")
    func inputParts() {
        let joined = InputParts.joined([1, 2, 3], [4, 5])
        let parts = InputParts(joined)
        #expect(Array(parts.first) == [1, 2, 3])
        #expect(Array(parts.rest) == [4, 5])
        #expect(Array(InputParts([0xFF, 0xFF, 7]).first) == [7], "a length past the end is clamped")
    }
}
