import Datasets
import Foundation
import Testing

/// SplitMix64 and the window choice against the Python reference of make_sampling_fixtures.py
/// (written from Vigna's splitmix64.c and Lemire's bounded-integer method): a seed picks the
/// same windows everywhere.
@Suite("seeded sampling against the reference")
struct SamplingReferenceTests {
    struct Fixture: Decodable {
        struct Stream: Decodable {
            let seed: UInt64
            let outputs: [String]
        }

        struct Case: Decodable {
            let seed: String
            let windows: Int
            let samples: Int
            let picked: [Int]
        }

        let streams: [Stream]
        let cases: [Case]
    }

    static func fixture() throws -> Fixture {
        let url = URL(fileURLWithPath: Bundle.module.resourcePath! + "/Fixtures/sampling.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    @Test("SplitMix64 streams")
    func streams() throws {
        let fixture = try Self.fixture()
        #expect(fixture.streams.count == 2)
        for stream in fixture.streams {
            var generator = SplitMix64(seed: stream.seed)
            #expect(stream.outputs.map { UInt64($0)! } == stream.outputs.map { _ in generator.next() }, "seed \(stream.seed)")
        }
    }

    @Test("windows picked by seed")
    func picks() throws {
        let fixture = try Self.fixture()
        #expect(fixture.cases.count == 24)
        let sequenceLength = 3
        for item in fixture.cases {
            let tokens = (0..<(item.windows * sequenceLength + 2)).map { Int32($0) }
            let samples = try CalibrationData.sample(tokens, samples: item.samples, sequenceLength: sequenceLength, seed: UInt64(item.seed)!, source: "t")
            #expect(samples.map { Int($0[0]) / sequenceLength } == item.picked, "seed \(item.seed), \(item.samples) of \(item.windows)")
        }
    }
}
