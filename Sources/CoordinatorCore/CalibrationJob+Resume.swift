import Checkpoint
import Foundation

/// Going on after the coordinator was lost (docs/ARCHITECTURE.md, "Coordinator restart"): the
/// journal says which layers were done and which shards were written; shards whose digest does
/// not match, and any shard the journal does not list, are discarded; the layers whose tensors
/// are all in the shards kept are not redone (they are replayed on the samples), the rest are.
extension CalibrationJob {
    /// The output directory and the journal to go on from, trimmed to what is on disk intact.
    /// - Throws: `JobError` when there is nothing to resume (no journal, or a finished
    ///   checkpoint: the files are left as they are), or when the model, data or recipe differ
    ///   from the job's (naming what differs).
    func resumable(_ fingerprint: JobFingerprint) throws -> (OutputDirectory, JobJournal) {
        let path = inputs.outputPath
        let manager = FileManager.default
        if manager.fileExists(atPath: (path as NSString).appendingPathComponent(ShardIndex.fileName)) {
            throw JobError("\(path) holds a finished checkpoint (\(ShardIndex.fileName)); nothing to resume")
        }
        guard var journal = try JobJournal.read(from: path) else {
            throw JobError("nothing to resume in \(path): no \(JobJournal.fileName) (no layer of a job there was finished)")
        }
        let differences = fingerprint.differences(from: journal.fingerprint)
        guard differences.isEmpty else {
            throw JobError("cannot resume \(path): it was started with other inputs; differs: \(differences.joined(separator: "; "))")
        }
        // Shards in order, as long as each is intact; the first one that is not ends the list.
        var kept: [ShardedCheckpointWriter.WrittenShard] = []
        for shard in journal.shards {
            let file = (path as NSString).appendingPathComponent(shard.file)
            guard manager.fileExists(atPath: file), (try? SHA256.hexDigest(ofFile: file)) == shard.sha256 else {
                progress?.log("\(file): missing or not the shard written (digest differs); it and the shards after it are written again")
                break
            }
            kept.append(shard)
        }
        let keptFiles = Set(kept.map(\.file))
        for name in (try manager.contentsOfDirectory(atPath: path)) where name.hasSuffix(".pending") && !keptFiles.contains(name) {
            try manager.removeItem(atPath: (path as NSString).appendingPathComponent(name))
        }
        // Layers are done when every tensor they wrote is in a kept shard.
        let written = Set(kept.flatMap(\.names))
        let done = journal.layers.prefix { $0.tensors.allSatisfy(written.contains) }.count
        journal.layers = Array(journal.layers.prefix(done))
        journal.shards = kept
        return (OutputDirectory(existing: path), journal)
    }
}
