import Checkpoint
import CoordinatorCore
import Foundation
import JobProtocol
import Testing
import TestSupport
import WorkerCore

/// `--resume` after the coordinator is lost: the same bytes as an undisturbed run, from whatever
/// was on disk; refused, leaving the files alone, when there is nothing to resume or the inputs differ.
@Suite("coordinator restart")
struct ResumeTests {
    static let samples = WorkerLossTests.samples

    /// Small shards, so that some are written before the job ends (and some in the middle of a layer).
    static func recipe(_ name: String = "gptq") -> Recipe {
        var recipe = WorkerLossTests.recipe(name)
        recipe.maxShardSize = 24_000
        return recipe
    }

    static func job(_ out: String, recipe: Recipe = recipe(), model: String = InProcessJobTests.model("llama"), samples: [[Int32]] = samples,
                    workers: [any WorkerConnection], resume: Bool = false) throws -> CalibrationJob {
        try CalibrationJob(
            inputs: JobInputs(modelPath: model, outputPath: out, overwrite: false, recipe: recipe, sequences: samples, workerThreads: 1,
                              statisticsBatchTokens: 26, resume: resume),
            workers: workers)
    }

    static func digests(_ out: String) throws -> [String: String] {
        var digests: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: out) {
            digests[name] = try SHA256.hexDigest(ofFile: out + "/" + name)
        }
        return digests
    }

    /// The manifest's layers and shards (the rest names the paths, which differ here).
    static func manifest(_ out: String) throws -> String {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/calibrate-manifest.json"))) as? [String: Any] ?? [:]
        let kept = object.filter { $0.key == "layers" || $0.key == "shards" }
        return String(decoding: try JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys]), as: UTF8.self)
    }

    static func temporary() -> String { NSTemporaryDirectory() + "calibrate-resume-\(UUID().uuidString)" }

    @Test("the coordinator lost in each phase, then --resume: the bytes of an undisturbed run", arguments: ["gptq", "awq", "w8a8"])
    func resumeInEachPhase(name: String) async throws {
        let reference = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: reference) }
        let expected = try await Self.job(reference, recipe: Self.recipe(name), workers: (0..<2).map { SerialWorker(index: $0) }).run()
        #expect(expected.shards.count > 2, "the shards should be small enough to be written during the job: \(expected.shards.count)")
        #expect(!FileManager.default.fileExists(atPath: reference + "/calibrate-progress.json"), "a finished job keeps no journal")
        let phases = name == "gptq" ? ["start", "load 0", "capture 1", "solve 1", "apply 1", "finish"] : ["load 1", "apply 1", "finish"]
        for phase in phases {
            let out = Self.temporary()
            defer { try? FileManager.default.removeItem(atPath: out) }
            await #expect(throws: (any Error).self, "\(phase)") {
                _ = try await Self.job(out, recipe: Self.recipe(name), workers: [FaultyWorker.stoppingJob(index: 0, at: phase), SerialWorker(index: 1)]).run()
            }
            #expect(!FileManager.default.fileExists(atPath: out + "/model.safetensors.index.json"), "\(phase): an index after a stop")
            // What a SIGKILL mid-write leaves: a partial shard the journal does not list.
            try Data([1, 2, 3]).write(to: URL(fileURLWithPath: out + "/.shard-00099.safetensors.pending"))
            let report = try await Self.job(out, recipe: Self.recipe(name), workers: (0..<3).map { SerialWorker(index: $0) }, resume: true).run()
            #expect(report.shards.map(\.sha256) == expected.shards.map(\.sha256), "\(name): stopped at \(phase), resumed")
            #expect(report.layers.map(\.index) == [0, 1], "\(phase): \(report.layers.map(\.index))")
            // After both layers, layer 0's tensors are in shards written during layer 1's: it is replayed, not redone.
            if phase == "finish" { #expect(report.resumedAt == 1, "\(phase): resumed at \(String(describing: report.resumedAt))") }
            #expect(try Self.manifest(out) == (try Self.manifest(reference)), "\(phase): manifest")
            #expect(!FileManager.default.fileExists(atPath: out + "/.shard-00099.safetensors.pending"))
        }
    }

    @Test("a shard whose bytes changed on disk is written again, and the layers in it redone")
    func corruptShard() async throws {
        let reference = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: reference) }
        let expected = try await Self.job(reference, workers: [SerialWorker(index: 0)]).run()
        let out = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: out) }
        await #expect(throws: (any Error).self) {
            _ = try await Self.job(out, workers: [FaultyWorker.stoppingJob(index: 0, at: "finish")]).run()
        }
        let pending = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".pending") }.sorted()
        #expect(pending.count > 2)
        let victim = out + "/" + pending[1]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: victim))
        let report = try await Self.job(out, workers: [SerialWorker(index: 0)], resume: true).run()
        #expect(report.shards.map(\.sha256) == expected.shards.map(\.sha256))
    }

    @Test("--resume refuses other inputs, naming what differs, and leaves the files alone")
    func otherInputs() async throws {
        let out = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: out) }
        await #expect(throws: (any Error).self) {
            _ = try await Self.job(out, workers: [FaultyWorker.stoppingJob(index: 0, at: "capture 1")]).run()
        }
        let before = try Self.digests(out)
        var bits = Self.recipe()
        bits.bits = 8
        let other = InProcessJobTests.samples(count: 6, length: 13, vocabulary: 101, seed: 9)
        let cases: [(String, () throws -> CalibrationJob)] = [
            ("bits", { try Self.job(out, recipe: bits, workers: [SerialWorker(index: 0)], resume: true) }),
            ("calibration data", { try Self.job(out, samples: other, workers: [SerialWorker(index: 0)], resume: true) }),
            ("the model", { try Self.job(out, model: InProcessJobTests.model("mistral"), workers: [SerialWorker(index: 0)], resume: true) }),
        ]
        for (what, make) in cases {
            do {
                _ = try await make().run()
                Issue.record("resumed with other \(what)")
            } catch {
                #expect("\(error)".contains(what) && "\(error)".contains("cannot resume"), "\(error)")
            }
        }
        #expect(try Self.digests(out) == before)
        // Without --resume the unfinished job is not overwritten either.
        do {
            _ = try await Self.job(out, workers: [SerialWorker(index: 0)]).run()
            Issue.record("started over an unfinished job")
        } catch {
            #expect("\(error)".contains("--resume"), "\(error)")
        }
        #expect(try Self.digests(out) == before)
    }

    @Test("--resume with nothing to resume, or on a finished checkpoint, says so and touches nothing")
    func nothingToResume() async throws {
        let empty = Self.temporary()
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        do {
            _ = try await Self.job(empty, workers: [SerialWorker(index: 0)], resume: true).run()
            Issue.record("resumed an empty directory")
        } catch {
            #expect("\(error)".contains("nothing to resume"), "\(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty).isEmpty)
        let done = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: done) }
        _ = try await Self.job(done, workers: [SerialWorker(index: 0)]).run()
        let before = try Self.digests(done)
        do {
            _ = try await Self.job(done, workers: [SerialWorker(index: 0)], resume: true).run()
            Issue.record("resumed a finished checkpoint")
        } catch {
            #expect("\(error)".contains("finished checkpoint"), "\(error)")
        }
        #expect(try Self.digests(done) == before)
    }
}
