import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Progress of the job on standard error: on a terminal, one live line redrawn in place
/// (layer i/L, phase, samples/s, ETA, per-worker state); otherwise plain log lines, one per
/// phase change, so that logs stay readable.
///
/// `@unchecked Sendable`: every mutable field is guarded by `lock`.
public final class ProgressReporter: @unchecked Sendable {
    private let lock = NSLock()
    private let totalLayers: Int
    private let samples: Int
    private let live: Bool
    private let start = Date()
    private var layersDone = 0
    private var current = ""
    private var workers: [String] = []

    /// - Parameters:
    ///   - totalLayers: decoder layers in the job.
    ///   - samples: calibration sequences (for samples/s: each layer processes every sample once).
    ///   - live: redraw one line (defaults to whether standard error is a terminal).
    public init(totalLayers: Int, samples: Int, live: Bool = isatty(STDERR_FILENO) != 0) {
        self.totalLayers = totalLayers
        self.samples = samples
        self.live = live
    }

    /// Reports that `layer` entered `phase`, with the state of each worker (e.g. "w0 capture").
    public func phase(layer: Int, _ phase: String, workers: [String] = []) {
        lock.withLock {
            current = "layer \(layer + 1)/\(totalLayers) \(phase)"
            self.workers = workers
            emit(newline: !live)
        }
    }

    /// Reports a finished layer.
    public func layerDone(_ layer: Int) {
        lock.withLock {
            layersDone = layer + 1
            current = "layer \(layer + 1)/\(totalLayers) done"
            emit(newline: !live)
        }
    }

    /// A message that stays on screen (ends the live line first).
    public func log(_ message: String) {
        lock.withLock {
            if live { write("\r\u{1B}[2K") }
            write(message + "\n")
            if live && !current.isEmpty { emit(newline: false) }
        }
    }

    /// Ends the live line.
    public func finish() {
        lock.withLock {
            if live { write("\n") }
        }
    }

    /// The status line: phase, throughput and ETA from the mean time per finished layer.
    func statusLine() -> String {
        let elapsed = Date().timeIntervalSince(start)
        var parts = [current]
        if layersDone > 0 && elapsed > 0 {
            let perLayer = elapsed / Double(layersDone)
            parts.append("\(Int((Double(samples * layersDone) / elapsed).rounded())) samples/s")
            parts.append("ETA \(JobReport.seconds(perLayer * Double(totalLayers - layersDone)))")
        }
        if !workers.isEmpty { parts.append(workers.joined(separator: " ")) }
        return parts.joined(separator: " · ")
    }

    private func emit(newline: Bool) {
        let line = statusLine()
        if live {
            write("\r\u{1B}[2K" + line)
        } else if newline {
            write("[\(JobReport.seconds(Date().timeIntervalSince(start)))] " + line + "\n")
        }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
