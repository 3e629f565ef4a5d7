import Checkpoint
import Foundation
import Model

/// The bytes a job's checkpoint will take, estimated before the job starts, and the check that
/// the output's filesystem has them: a full disk found after hours of calibration loses the
/// hours (the job can be resumed, but only once space is freed).
public enum OutputSpace {
    /// An upper estimate of the checkpoint `recipe` writes from `reader`: every linear the
    /// recipe quantizes as its packed codes (32-bit words, or int8 for W8A8), one F32 scale per
    /// group (the model's dtype is at most that), packed zero points when asymmetric and the
    /// group index with act-order; every other tensor as stored; 1 KiB of header per tensor.
    public static func estimate(reader: CheckpointReader, recipe: Recipe) throws -> Int {
        let linears = LayerStage.allCases.flatMap(\.linearNames)
        var total = 0
        for name in reader.names {
            let entry = try reader.entry(name)
            total += 1024
            let module = String(name.dropLast(".weight".count))
            guard name.hasPrefix("model.layers."), name.hasSuffix(".weight"), entry.shape.count == 2,
                  linears.contains(where: { module.hasSuffix("." + $0) }), !recipe.ignores(module) else {
                total += entry.byteCount
                continue
            }
            let (rows, columns) = (entry.shape[0], entry.shape[1])
            let groups = recipe.groupSize <= 0 ? 1 : (columns + recipe.groupSize - 1) / recipe.groupSize
            let codes = recipe.activationBits != nil ? rows * columns : rows * ((columns * recipe.bits + 31) / 32) * 4
            let zeros = recipe.symmetric ? 0 : ((rows * recipe.bits + 31) / 32) * 4 * groups
            total += codes + rows * groups * 4 + zeros + (recipe.actOrder ? columns * 4 : 0) + 16
        }
        return total
    }

    /// The bytes free to an unprivileged writer on the filesystem holding `directory`, or nil
    /// when the system does not say.
    public static func available(at directory: String) -> Int? {
        guard let attributes = try? FileManager.default.attributesOfFileSystem(forPath: directory),
              let free = attributes[.systemFreeSize] as? NSNumber else { return nil }
        return free.intValue
    }

    /// - Throws: `JobError` naming the directory, the bytes needed and the bytes free, when the
    ///   checkpoint's remaining `needed` bytes do not fit.
    static func check(_ directory: String, needed: Int) throws {
        guard let free = available(at: directory), needed > free else { return }
        throw JobError("\(directory): the checkpoint needs about \(Self.megabytes(needed)) and its filesystem has \(Self.megabytes(free)) free; "
                       + "free space or choose another --out (--no-space-check skips this check)")
    }

    static func megabytes(_ bytes: Int) -> String {
        bytes >= 10_000_000 ? "\(bytes / 1_000_000) MB" : String(format: "%.2f MB", Double(bytes) / 1e6)
    }
}
