import Checkpoint
import Foundation
import Kernels
@testable import Model
import Tensors
import Testing

/// The fixture models made by Tests/Reference/make_forward_fixtures.py.
enum FixtureModel: String, CaseIterable, CustomStringConvertible {
    case llama, llamaRopeLlama3 = "llama_rope_llama3", mistral, qwen2, qwen3

    var description: String { rawValue }

    /// The model directory in the test bundle.
    var directory: String { Fixtures.path(rawValue) }

    func source() throws -> CheckpointWeightSource { try CheckpointWeightSource(directory: directory) }

    /// The NumPy reference's outputs (expected.safetensors).
    func expected() throws -> Expected { try Expected(path: directory + "/expected.safetensors") }

    /// Logits of the transformers implementation (transformers_logits.safetensors).
    func transformersLogits() throws -> Matrix {
        try Expected(path: directory + "/transformers_logits.safetensors").matrix("logits")
    }
}

/// Tensors of a fixture file, by name.
struct Expected {
    let reader: CheckpointReader

    init(path: String) throws { reader = try CheckpointReader(path: path) }

    func matrix(_ name: String) throws -> Matrix {
        let tensor = try reader.tensor(name)
        return Matrix(rows: tensor.shape[0], columns: tensor.shape[1], values: tensor.floats())
    }

    func integers(_ name: String) throws -> [Int] { try reader.tensor(name).floats().map { Int($0) } }

    /// The sequences the reference ran (tokens split by lengths).
    func sequences() throws -> [ArraySlice<Int32>] {
        let tokens = try integers("tokens").map { Int32($0) }
        var result: [ArraySlice<Int32>] = []
        var start = 0
        for length in try integers("lengths") {
            result.append(tokens[start ..< start + length])
            start += length
        }
        return result
    }
}

enum Fixtures {
    static func path(_ name: String) -> String { Bundle.module.resourcePath! + "/Fixtures/" + name }

    /// A fresh empty directory under the system's temporary directory.
    static func temporaryDirectory(_ label: String) throws -> String {
        let path = NSTemporaryDirectory() + "calibrate-\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A copy of a fixture model whose tensors `edit` changed (written with SafetensorsWriter).
    static func editedCopy(of model: FixtureModel, _ edit: (inout [String: Tensor]) -> Void) throws -> String {
        let directory = try temporaryDirectory("model-\(model.rawValue)")
        try FileManager.default.copyItem(atPath: model.directory + "/config.json", toPath: directory + "/config.json")
        let reader = try CheckpointReader(path: model.directory + "/model.safetensors")
        var tensors: [String: Tensor] = [:]
        for name in reader.names { tensors[name] = try reader.tensor(name).converted(to: .f32) }
        edit(&tensors)
        try SafetensorsWriter.write(tensors, to: directory + "/model.safetensors")
        return directory
    }
}

/// Comparison of float32 results with the float64 NumPy reference: the largest absolute error
/// divided by the largest magnitude of the expected values.
///
/// `forwardTolerance` = 1e-5: the reference computes in float64, we in float32 (ε = 6e-8).
/// A dot product of k = 64…128 terms carries a relative error of about √k·ε ≈ 1e-6, and two
/// layers of norms, products, softmax and residual sums stack a few of those; 1e-5 leaves a
/// margin of several times the errors seen (≈1e-6) while any real fault (a wrong mask,
/// rotation, bias or norm) shows up at 1e-2 or more.
enum Tolerance {
    static let forward = 1e-5

    static func normalizedError(_ actual: [Float], _ expected: [Float]) -> Double {
        precondition(actual.count == expected.count, "comparing \(actual.count) values with \(expected.count)")
        var (error, scale) = (0.0, 0.0)
        for (a, e) in zip(actual, expected) {
            error = max(error, abs(Double(a) - Double(e)))
            scale = max(scale, abs(Double(e)))
        }
        return error / max(scale, .leastNormalMagnitude)
    }
}

/// Collects the stage inputs an observer sees into full [tokens, width] matrices.
final class StageCapture {
    var inputs: [LayerStage: Matrix] = [:]
    let tokens: Int

    init(tokens: Int) { self.tokens = tokens }

    func record(_ input: StageInput) {
        var matrix = inputs[input.stage] ?? Matrix(rows: tokens, columns: input.width)
        for i in 0..<(input.rows * input.width) { matrix.values[input.firstToken * input.width + i] = input.values[i] }
        inputs[input.stage] = matrix
    }
}

extension HiddenStates {
    /// The embeddings of `sequences` from `source`.
    static func embedding(_ sequences: [ArraySlice<Int32>], _ source: any WeightSource) throws -> HiddenStates {
        let batch = try SequenceBatch(lengths: sequences.map(\.count))
        return try HiddenStates(batch: batch, values: source.embeddings(of: sequences.flatMap { $0 }))
    }
}
