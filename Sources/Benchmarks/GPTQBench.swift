import ArgumentParser
import Foundation
import Kernels

/// GPTQ solve time next to its dense-algebra floor at the measured sgemm rate, and next to the
/// same solve by the NumPy reference (`Tests/Reference/quant_reference.py bench`).
struct GPTQBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gptq",
        abstract: "GPTQ factor + solve time per shape (out×in) next to the dense-algebra floor, the NumPy reference and sgemm.")

    @Option(help: "Shapes out×in, comma-separated (the 70B down_proj is 8192x28672).")
    var shapes = "4096x4096,8192x8192,8192x28672"

    @Option(help: "Calibration tokens (rows of X).")
    var tokens = 2048

    @Option(help: "Group size.")
    var group = 128

    @Option(help: "Bits.")
    var bits = 4

    @Option(help: "Rows solved together (GPTQSolveOptions.rowTile).")
    var rowTile = 256

    @Option(help: "BLAS threads.")
    var threads = 2

    @Option(help: "Factor precision: float32 or float64.")
    var precision = "float32"

    @Option(help: "Run the NumPy reference for shapes with at most this many input columns (larger: print its command).")
    var referenceMaxColumns = 8192

    @Option(help: "Python with numpy.")
    var python = ".venv/bin/python"

    func run() throws {
        BLAS.setThreadCount(threads)
        guard let factorPrecision = FactorPrecision(rawValue: precision) else { throw ValidationError("precision must be float32 or float64") }
        let sgemm = measuredSgemmRate()
        print("GPTQ, \(bits) bits, group \(group), \(tokens) tokens, row tile \(rowTile), \(threads) BLAS threads, \(precision) factor; sgemm 4096³: \(format(sgemm, 1)) GFLOP/s")
        print("floor = (potrf K³/3 + trtri K³/3 + block GEMMs 2·N·Σ B·(K − i₂)) / sgemm rate")
        for shape in shapes.split(separator: ",") {
            let parts = shape.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2 else { throw ValidationError("shape \(shape) is not OUTxIN") }
            try measure(rows: parts[0], columns: parts[1], sgemm: sgemm, precision: factorPrecision)
        }
    }

    private func measure(rows n: Int, columns k: Int, sgemm: Double, precision: FactorPrecision) throws {
        let x = benchValues(tokens * k, seed: UInt64(k))
        let w = Matrix(rows: n, columns: k, values: benchValues(n * k, seed: UInt64(n * 31 + k)).map { $0 * 0.05 })
        var statistics = ActivationStatistics(columns: k)
        let batch = 512
        var start = now()
        for b in stride(from: 0, to: tokens, by: batch) {
            try Array(x[(b * k)..<(min(b + batch, tokens) * k)]).withUnsafeBufferPointer {
                try statistics.accumulate($0, rows: $0.count / k, layer: 0, module: "bench")
            }
        }
        let xtxSeconds = now() - start
        start = now()
        let factor = try GPTQ.prepareFactor(statistics: statistics, options: GPTQFactorOptions(precision: precision))
        let factorSeconds = now() - start
        statistics = ActivationStatistics(columns: 1)  // free the float64 sums
        let options = GPTQSolveOptions(scheme: try QuantizationScheme(bits: bits, symmetric: true, groupSize: group), rowTile: rowTile)
        start = now()
        let result = try GPTQ.solve(GPTQSolveRequest(firstRow: 0, weights: w, options: options), factor: factor)
        let solveSeconds = now() - start
        let blocks = GPTQ.blocks(columns: k, blockSize: options.blockSize, groupLength: group, dynamicGroups: true)
        let gemmFlops = blocks.reduce(0.0) { $0 + 2 * Double(n) * Double($1.count) * Double(k - $1.upperBound) }
        let factorFlops = 2 * pow(Double(k), 3) / 3
        let floor = (factorFlops + gemmFlops) / (sgemm * 1e9)
        let total = factorSeconds + solveSeconds
        print("\(n)×\(k): XᵀX \(format(xtxSeconds, 2)) s (\(format(Double(k) * Double(k + 1) * Double(tokens) / xtxSeconds / 1e9, 1)) GFLOP/s); "
              + "factor \(format(factorSeconds, 2)) s (floor \(format(factorFlops / sgemm / 1e9, 2))); solve \(format(solveSeconds, 2)) s "
              + "(floor \(format(gemmFlops / sgemm / 1e9, 2))); factor+solve \(format(total, 2)) s = \(format(total / floor, 2))× floor \(format(floor, 2)) s; "
              + "loss \(format(result.rowLosses.reduce(0, +), 4)), damping retries \(factor.dampingRetries)")
        try reference(rows: n, columns: k, x: x, w: w)
    }

    /// Runs (or prints) the NumPy reference on the same inputs, written as raw float32 files.
    private func reference(rows n: Int, columns k: Int, x: [Float], w: Matrix) throws {
        let directory = NSTemporaryDirectory() + "calibrate-gptq-bench-\(getpid())"
        let arguments = ["Tests/Reference/quant_reference.py", "bench", "--x", directory + "/x.f32", "--w", directory + "/w.f32",
                         "--rows", String(n), "--cols", String(k), "--tokens", String(tokens), "--bits", String(bits), "--group", String(group)]
        guard k <= referenceMaxColumns, FileManager.default.isExecutableFile(atPath: python) else {
            print("  NumPy reference (not run here): write X (\(tokens)×\(k)) and W (\(n)×\(k)) as raw float32, then \(python) \(arguments.joined(separator: " "))")
            return
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try x.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: directory + "/x.f32")) }
        try w.values.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: directory + "/w.f32")) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        print("  NumPy reference (float32, IST-DASLab loop): \(text.trimmingCharacters(in: .whitespacesAndNewlines)) (seconds)")
    }
}
