import Checkpoint
import CoordinatorCore
import Foundation
import JobProtocol
import Testing
import WorkerCore

/// An in-process worker that runs `before` ahead of each request it is sent.
final class HookedWorker: WorkerConnection, @unchecked Sendable {
    let address: String
    let capacity = 1
    private let worker: SerialWorker
    private let before: @Sendable (WorkerRequest) -> Void

    init(index: Int, before: @escaping @Sendable (WorkerRequest) -> Void) {
        address = "in-process #\(index)"
        worker = SerialWorker(index: index)
        self.before = before
    }

    func send(_ request: WorkerRequest) async throws -> WorkerReply {
        before(request)
        return try await worker.send(request)
    }

    func traffic() async -> WorkerTraffic { WorkerTraffic() }
}

/// A small tmpfs mounted for a test (root only: CI runs as root), unmounted when closed.
final class Tmpfs {
    let path: String

    /// Why tmpfs mounts cannot be made here, or nil when they can.
    static let unavailable: String? = {
        guard getuid() == 0 else { return "needs root to mount a tmpfs" }
        let probe = try? Tmpfs(kilobytes: 64)
        defer { probe?.close() }
        return probe == nil ? "mount -t tmpfs failed" : nil
    }()

    init(kilobytes: Int, options: String = "") throws {
        path = NSTemporaryDirectory() + "calibrate-tmpfs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Self.run(["mount", "-t", "tmpfs", "-o", "size=\(kilobytes)k" + (options.isEmpty ? "" : "," + options), "tmpfs", path])
    }

    /// Remounts with new options (a new size, `ro`).
    func remount(_ options: String) throws { try Self.run(["mount", "-o", "remount," + options, path]) }

    func close() {
        try? Self.run(["umount", "-l", path])
        try? FileManager.default.removeItem(atPath: path)
    }

    private static func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw JobError("\(arguments.joined(separator: " ")) exited with \(process.terminationStatus)") }
    }
}

/// Output on a filesystem that is full or read-only: refused before the work when it can be
/// known, a clear error naming the path otherwise, never a directory that reads as finished,
/// and --resume writes the same bytes once space is freed.
@Suite("full and read-only output disks", .serialized, .enabled(if: Tmpfs.unavailable == nil, "\(Tmpfs.unavailable ?? "")"))
struct FullDiskTests {
    static let samples = InProcessJobTests.samples(count: 4, length: 9, vocabulary: 101)

    static var recipe: Recipe {
        var recipe = InProcessJobTests.recipe
        recipe.maxShardSize = 12_000  // several shards, written as layers finish
        return recipe
    }

    static func run(out: String, model: String = InProcessJobTests.model("llama"), checkSpace: Bool = true, resume: Bool = false) async throws -> JobReport {
        var inputs = JobInputs(modelPath: model, outputPath: out, overwrite: false, recipe: recipe,
                               sequences: samples, workerThreads: 1, resume: resume)
        inputs.checkSpace = checkSpace
        return try await CalibrationJob(inputs: inputs, workers: (0..<2).map { SerialWorker(index: $0) }).run()
    }

    /// Files in `directory` that would make it read as a finished checkpoint.
    static func finishedLooking(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { name in
            name == "config.json" || name == ShardIndex.fileName || name.hasPrefix("calibrate-manifest") || name.hasPrefix("calibrate-report")
                || (name.hasPrefix("model-") && name.hasSuffix(".safetensors"))
        }.sorted()
    }

    @Test("too little space is refused before the job starts, naming the directory and the bytes; with --no-space-check the write fails naming the file, leaves nothing finished-looking, and --resume after the space is freed writes an undisturbed run's bytes")
    func fullDisk() async throws {
        let reference = NSTemporaryDirectory() + "calibrate-reference-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: reference) }
        let undisturbed = try await Self.run(out: reference)
        let bytes = undisturbed.shards.reduce(0) { $0 + $1.bytes }
        #expect(undisturbed.shards.count >= 3, "\(undisturbed.shards.map(\.name))")
        let estimate = try OutputSpace.estimate(reader: CheckpointReader(path: InProcessJobTests.model("llama")), recipe: Self.recipe)
        #expect(estimate >= bytes && estimate < bytes * 2, "estimate \(estimate) for \(bytes) bytes written")

        // Room for about half the shards (tmpfs sizes are whole pages).
        let disk = try Tmpfs(kilobytes: max(bytes / 2 / 1024, 8))
        defer { disk.close() }
        let out = disk.path + "/out"
        let refused = await #expect(throws: JobError.self) { _ = try await Self.run(out: out) }
        #expect(refused?.message.contains("\(out): the checkpoint needs about") == true && refused?.message.contains("free") == true, "\(String(describing: refused))")

        let failed = await #expect(throws: (any Error).self) { _ = try await Self.run(out: out, checkSpace: false) }
        let message = String(describing: failed)
        #expect(message.contains("No space left on device") && message.contains(out), "\(message)")
        let finished = try Self.finishedLooking(out)
        #expect(finished.isEmpty, "\(finished)")

        try disk.remount("size=\(bytes * 4 / 1024 + 256)k")
        let resumed = try await Self.run(out: out, resume: true)
        #expect(resumed.shards.map(\.sha256) == undisturbed.shards.map(\.sha256))
        #expect(FileManager.default.fileExists(atPath: out + "/" + ShardIndex.fileName))
    }

    @Test("a read-only output filesystem is refused before the job starts, naming the directory")
    func readOnly() async throws {
        let disk = try Tmpfs(kilobytes: 1024)
        defer { disk.close() }
        try FileManager.default.createDirectory(atPath: disk.path + "/out", withIntermediateDirectories: true)
        try disk.remount("ro")
        let error = await #expect(throws: CheckpointError.self) { _ = try await Self.run(out: disk.path + "/out") }
        #expect(error?.file == disk.path + "/out" && error?.message.contains("cannot write into the output directory: Read-only file system") == true, "\(String(describing: error))")
    }

    @Test("the tokenizer copy failing at the end gives the shards their pending names back: nothing reads as finished, and --resume finishes with an undisturbed run's bytes")
    func failureAtTheEnd() async throws {
        let base = NSTemporaryDirectory() + "calibrate-tokenizer-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        // The llama fixture with a tokenizer.json to copy.
        let model = base + "/model"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors"] {
            try FileManager.default.createSymbolicLink(atPath: model + "/" + file, withDestinationPath: InProcessJobTests.model("llama") + "/" + file)
        }
        try "{}".write(toFile: model + "/tokenizer.json", atomically: true, encoding: .utf8)
        let undisturbed = try await Self.run(out: base + "/reference", model: model)
        // A directory where the copy goes: renaming the copied file into place fails.
        let out = base + "/out"
        try FileManager.default.createDirectory(atPath: out + "/tokenizer.json/blocked", withIntermediateDirectories: true)
        let failed = await #expect(throws: JobError.self) { _ = try await Self.run(out: out, model: model) }
        #expect(failed?.message.contains("nothing in it reads as finished") == true && failed?.message.contains(out + "/tokenizer.json") == true,
                "\(String(describing: failed))")
        let finished = try Self.finishedLooking(out)
        #expect(finished.isEmpty, "\(finished)")
        try FileManager.default.removeItem(atPath: out + "/tokenizer.json")
        let resumed = try await Self.run(out: out, model: model, resume: true)
        #expect(resumed.shards.map(\.sha256) == undisturbed.shards.map(\.sha256))
        #expect(FileManager.default.fileExists(atPath: out + "/" + ShardIndex.fileName))
    }

    @Test("the output directory removed mid-run: the job fails at its next write, naming the path")
    func removedMidRun() async throws {
        let base = NSTemporaryDirectory() + "calibrate-removed-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let out = base + "/out"
        let inputs = JobInputs(modelPath: InProcessJobTests.model("llama"), outputPath: out, overwrite: false, recipe: Self.recipe,
                               sequences: Self.samples, workerThreads: 1)
        // Removed when layer 1 is loaded: layer 0's shard and journal were written there.
        let workers = (0..<2).map { index in
            HookedWorker(index: index) { request in
                if index == 0, case .loadLayer(let layer, _) = request, layer == 1 { try? FileManager.default.removeItem(atPath: out) }
            }
        }
        let error = await #expect(throws: (any Error).self) { _ = try await CalibrationJob(inputs: inputs, workers: workers).run() }
        let message = String(describing: error)
        #expect(message.contains(out) && message.contains("No such file or directory"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: out + "/" + ShardIndex.fileName))
    }
}
