import ArgumentParser
import Checkpoint
import Foundation
import Model
import ModelConfiguration

#if canImport(Glibc)
import Glibc
#endif

/// Layer loads from a cold page cache, with and without reading the next layer ahead
/// (`WeightSource.prefetchLayer`) while the current one is worked on, next to the disk's cold
/// sequential read rate measured in the same run. Needs root (to drop the page cache).
struct PrefetchBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefetch",
        abstract: "Cold-cache layer loads with and without reading the next layer ahead, next to the disk's cold read rate (root: drops the page cache).")

    @Option(help: "Model directory (safetensors).")
    var model: String

    @Option(help: "Milliseconds of work per layer between loads (the layer's capture, solve and apply; the disk is idle meanwhile).")
    var workMs = 100

    func run() throws {
        guard FileManager.default.isWritableFile(atPath: "/proc/sys/vm/drop_caches") else {
            print("prefetch: skipped — dropping the page cache needs root (/proc/sys/vm/drop_caches is not writable)")
            return
        }
        let shards = try FileManager.default.contentsOfDirectory(atPath: model).filter { $0.hasSuffix(".safetensors") }.sorted()
        try dropCaches()
        var bytes = 0
        let readStart = now()
        for shard in shards { bytes += try readWhole(model + "/" + shard) }
        let readSeconds = now() - readStart
        print("cold sequential read of \(shards.count) shard(s), \(format(Double(bytes) / 1e6, 0)) MB: \(format(Double(bytes) / readSeconds / 1e6, 0)) MB/s (reference)")
        for prefetch in [false, true] {
            try dropCaches()
            let source = try CheckpointWeightSource(directory: model)
            var loadSeconds = 0.0
            var layerBytes = 0
            let start = now()
            for index in 0..<source.config.numHiddenLayers {
                let loadStart = now()
                let weights = try source.layer(index)
                loadSeconds += now() - loadStart
                layerBytes += weights.byteCount
                source.releaseLayer(index)
                if prefetch { source.prefetchLayer(index + 1) }
                usleep(useconds_t(workMs * 1000))
            }
            let layers = source.config.numHiddenLayers
            print("\(prefetch ? "read ahead:   " : "no read-ahead:") load \(format(loadSeconds, 2)) s for \(layers) layers "
                  + "(\(format(loadSeconds / Double(layers) * 1000, 1)) ms each, \(format(Double(layerBytes) / 1e6, 0)) MB as f32), "
                  + "whole loop \(format(now() - start, 2)) s with \(workMs) ms of work per layer")
        }
    }

    private func dropCaches() throws {
        sync()
        guard let file = fopen("/proc/sys/vm/drop_caches", "w") else { throw ValidationError("cannot open /proc/sys/vm/drop_caches") }
        defer { fclose(file) }
        fputs("3\n", file)
    }

    /// Reads the file with `read` in 8 MiB chunks; returns its size.
    private func readWhole(_ path: String) throws -> Int {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ValidationError("cannot open \(path)") }
        defer { close(fd) }
        let chunk = 8 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        var total = 0
        while true {
            let count = read(fd, buffer, chunk)
            guard count > 0 else { break }
            total += count
        }
        return total
    }
}
