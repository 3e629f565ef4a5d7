import Checkpoint
import Foundation
import Kernels
import Tensors

/// The golden fixtures made by `Tests/Reference/make_kernel_fixtures.py`.
final class KernelFixtures: Sendable {
    static let shared = try! KernelFixtures()

    let file: SafetensorsFile
    let manifest: Manifest

    init() throws {
        let directory = Bundle.module.resourcePath! + "/Fixtures/"
        file = try SafetensorsFile(path: directory + "kernels.safetensors")
        manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "kernels.json")))
    }

    func tensor(_ name: String) -> Tensor { try! file.tensor(name) }
    func floats(_ name: String) -> [Float] { tensor(name).floats() }
    func doubles(_ name: String) -> [Double] { tensor(name).doubles() }
    /// Integer tensors (I8, I32, I64) as Int, exactly (the fixtures' values are far below 2^24).
    func ints(_ name: String) -> [Int] { tensor(name).floats().map { Int($0) } }

    /// Tensors under `prefix` (e.g. "p1.stats."), with the prefix removed.
    func group(_ prefix: String) -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for name in file.names where name.hasPrefix(prefix) { result[String(name.dropFirst(prefix.count))] = tensor(name) }
        return result
    }

    func problem(_ name: String) -> Problem {
        let spec = manifest.problems[name]!
        return Problem(
            name: name, spec: spec,
            x: Matrix(rows: spec.tokens, columns: spec.columns, values: floats("\(name).x")),
            w: Matrix(rows: spec.rows, columns: spec.columns, values: floats("\(name).w")),
            statistics: statistics(group("\(name).stats."), columns: spec.columns))
    }

    /// The reference's float64 statistics, converted to fixed point.
    func statistics(_ tensors: [String: Tensor], columns: Int) -> ActivationStatistics {
        try! ActivationStatistics(
            columns: columns, tokenCount: Int(tensors["token_count"]!.floats()[0]), gramUpper: tensors["xtx_upper"]!.doubles(),
            absMax: tensors["absmax"]!.floats(), sumAbs: tensors["sum_abs"]!.doubles(), sumSquares: tensors["sum_squares"]!.doubles())
    }

    /// The reference's factor (float64 U rounded to Float), as a coordinator would ship it.
    func factor(problem: String, actOrder: Bool) -> GPTQFactor {
        let key = "\(problem).\(actOrder ? "act" : "seq")"
        let k = manifest.problems[problem]!.columns
        let lambda = doubles("\(key).lambda")[0]
        return try! GPTQFactor(
            columns: k, permutation: ints("\(key).perm").map(Int32.init), deadColumns: ints("\(key).dead").map(Int32.init),
            hessianDiagonal: floats("\(key).diag"), inverseFactor: doubles("\(key).u").map { Float($0) },
            dampingPercent: 0.01, damping: lambda, dampingRetries: 0, tokenCount: manifest.problems[problem]!.tokens)
    }
}

struct Problem {
    let name: String
    let spec: Manifest.ProblemSpec
    let x: Matrix
    let w: Matrix
    let statistics: ActivationStatistics
}

struct Manifest: Decodable {
    struct ProblemSpec: Decodable {
        let rows, columns, tokens: Int
        let dead: [Int]
    }

    struct QuantCase: Decodable, CustomStringConvertible {
        let problem: String
        let bits: Int
        let symmetric: Bool
        let group_size: Int
        let scale_format: String
        let clipping: [Double]?
        let act_order: Bool?
        let static_groups: Bool?
        let use_diagonal: Bool?
        let gptq_hessian_loss: Double?
        let rtn_hessian_loss: Double?

        var scheme: QuantizationScheme {
            try! QuantizationScheme(bits: bits, symmetric: symmetric, groupSize: group_size, scaleFormat: ScaleFormat(rawValue: scale_format)!)
        }

        var clippingSearch: ClippingSearch? {
            clipping.map { try! ClippingSearch(grid: Int($0[0]), maxShrink: $0[1]) }
        }

        var description: String {
            "\(problem) b\(bits) \(symmetric ? "sym" : "asym") g\(group_size) \(scale_format)"
                + "\(act_order == true ? " act-order" : "")\(static_groups == true ? " static" : "")\(clipping != nil ? " clip" : "")"
        }
    }

    struct PackingCase: Decodable, CustomStringConvertible {
        let rows, columns, bits, group_size: Int
        let symmetric: Bool
        let gptq: Bool?

        var scheme: QuantizationScheme { try! QuantizationScheme(bits: bits, symmetric: symmetric, groupSize: group_size) }
        var description: String { "\(rows)×\(columns) b\(bits) \(symmetric ? "sym" : "asym") g\(group_size)" }
    }

    let problems: [String: ProblemSpec]
    let rtn: [QuantCase]
    let gptq: [QuantCase]
    let packing: [PackingCase]
}

