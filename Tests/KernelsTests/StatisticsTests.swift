import Kernels
import Tensors
import Testing
import TestSupport

@Suite("Activation statistics")
struct StatisticsTests {
    /// XᵀX of a batch is a sum of Float products (float64 only across batches): relative error
    /// ≲ √tokens · 2⁻²⁴ per entry, ≈ 1e-6 for 200 tokens; 1e-5 leaves room without hiding a bug
    /// (a wrong entry would be off by O(1)).
    static let gramTolerance = 1e-5
    /// Σ|x| is a float64 sum of exact float64 terms, truncated to fixed point per batch (≤ 2⁻⁴⁸
    /// absolute) and summed exactly: only the order of NumPy's float64 sum differs.
    static let sumTolerance = 1e-12

    @Test("accumulated statistics match the NumPy reference", arguments: ["p1", "p2", "p3"])
    func matchesReference(problem name: String) throws {
        let problem = KernelFixtures.shared.problem(name)
        var statistics = ActivationStatistics(columns: problem.spec.columns)
        // Three uneven batches.
        let k = problem.spec.columns, tokens = problem.spec.tokens
        for range in [0..<(tokens / 3), (tokens / 3)..<(tokens / 2), (tokens / 2)..<tokens] {
            try statistics.accumulate(Array(problem.x.values[(range.lowerBound * k)..<(range.upperBound * k)]), rows: range.count, layer: 0, module: name)
        }
        let reference = problem.statistics
        #expect(statistics.tokenCount == reference.tokenCount)
        #expect(statistics.absMax == reference.absMax)
        let scale = reference.gramUpper.map(abs).max()!
        #expect(zip(statistics.gramUpper, reference.gramUpper).allSatisfy { abs($0 - $1) <= Self.gramTolerance * scale })
        #expect(zip(statistics.sumAbs, reference.sumAbs).allSatisfy { abs($0 - $1) <= Self.sumTolerance * max(abs($1), 1e-300) })
        // Σx² is XᵀX's diagonal, from the same Float products: the Gram tolerance.
        #expect(zip(statistics.sumSquares, reference.sumSquares).allSatisfy { abs($0 - $1) <= Self.gramTolerance * abs($1) })
    }

    @Test("statistics of k shards merged in any order equal one pass bit for bit", arguments: [2, 3, 5])
    func shardsMergeToOnePass(shards: Int) throws {
        let (k, batch, batches) = (600, 16, 10)  // 600 columns: two panels, the second partial
        var random = SplitMix64(seed: UInt64(shards))
        let x = random.floats(batch * batches * k).map { $0 * 3 }
        var onePass = ActivationStatistics(columns: k)
        for b in 0..<batches {
            try onePass.accumulate(Array(x[(b * batch * k)..<((b + 1) * batch * k)]), rows: batch, layer: 1, module: "mlp.down_proj")
        }
        var parts: [ActivationStatistics] = []
        for s in 0..<shards {
            var part = ActivationStatistics(columns: k)
            for b in stride(from: s, to: batches, by: shards) {  // interleaved: each shard its own batches
                try part.accumulate(Array(x[(b * batch * k)..<((b + 1) * batch * k)]), rows: batch, layer: 1, module: "mlp.down_proj")
            }
            parts.append(part)
        }
        let merged = try ActivationStatistics.merged(parts)
        #expect(merged.tokenCount == onePass.tokenCount)
        #expect(merged.absMax == onePass.absMax)
        #expect(merged == onePass, "fixed-point sums are exact: any split, any order, same bits")
        #expect(try ActivationStatistics.merged(parts.reversed()) == merged)
    }

    @Test("statistics survive [String: Tensor] exactly and merge after a round trip")
    func serialization() throws {
        let problem = KernelFixtures.shared.problem("p2")
        var statistics = ActivationStatistics(columns: 96)
        try statistics.accumulate(problem.x.values, rows: problem.spec.tokens, layer: 2, module: "self_attn.o_proj")
        let decoded = try ActivationStatistics(tensors: statistics.tensors(), name: "layer 2")
        #expect(decoded == statistics)
        var twice = decoded
        try twice.merge(statistics)
        #expect(twice.tokenCount == 2 * statistics.tokenCount)
        #expect(twice.gramUpper == statistics.gramUpper.map { $0 * 2 })
    }

    @Test("NaN or Inf in a batch is refused naming layer, module, token and channel, and changes nothing")
    func nonFinite() throws {
        var statistics = ActivationStatistics(columns: 4)
        try statistics.accumulate([1, 2, 3, 4], rows: 1, layer: 7, module: "mlp.gate_proj")
        let before = statistics
        for bad in [Float.nan, .infinity, -.infinity] {
            let error = #expect(throws: KernelError.self) {
                try statistics.accumulate([1, 2, 3, 4, 5, 6, bad, 8], rows: 2, layer: 7, module: "mlp.gate_proj")
            }
            #expect(error?.code == .nonFinite)
            #expect(error?.message.contains("layer 7 mlp.gate_proj: input token 1, channel 2") == true, "\(error?.message ?? "")")
        }
        #expect(statistics == before)
        #expect(throws: KernelError.self) { try statistics.accumulate([1, 2, 3], rows: 1, layer: 0, module: "m") }
    }

    @Test("malformed serialized statistics are refused naming the tensor")
    func malformed() {
        var tensors = ActivationStatistics(columns: 3).tensors()
        // Six sums in one segment of 7 bytes, one block: width 1, shift 0, and only five bytes.
        tensors["xtx_upper"] = Tensor.integers([7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2, 3, 4, 5] as [UInt8], dtype: .u8, shape: [15])
        let error = #expect(throws: KernelError.self) { try ActivationStatistics(tensors: tensors, name: "layer 0 q,k,v") }
        #expect(error?.message == "statistics layer 0 q,k,v: tensor \"xtx_upper\" (6 packed sums) ends inside the block of sums 0..<6 (1 bytes each)")
        tensors = ActivationStatistics(columns: 3).tensors()
        tensors["xtx_upper"] = Tensor(doubles: [1, 2, 3, 4, 5, 6], shape: [6])
        #expect(throws: KernelError.self) { try ActivationStatistics(tensors: tensors, name: "x") }
        tensors = ActivationStatistics(columns: 3).tensors()
        tensors["sum_abs"] = Tensor(floats: [0, 0, 0], shape: [3])
        #expect(throws: KernelError.self) { try ActivationStatistics(tensors: tensors, name: "x") }
        tensors = ActivationStatistics(columns: 3).tensors()
        tensors["absmax"] = nil
        #expect(throws: KernelError.self) { try ActivationStatistics(tensors: tensors, name: "x") }
        #expect(throws: KernelError.self) { var a = ActivationStatistics(columns: 3); try a.merge(ActivationStatistics(columns: 4)) }
    }

    @Test("the Hessian is 2·XᵀX/n, symmetric")
    func hessian() throws {
        let problem = KernelFixtures.shared.problem("p3")
        let h = try problem.statistics.hessian()
        let gram = problem.statistics.gram()
        let n = Double(problem.spec.tokens), k = problem.spec.columns
        for i in 0..<k {
            for j in 0..<k {
                #expect(h[i * k + j] == Float(gram[i * k + j] * (2 / n)))
                #expect(h[i * k + j] == h[j * k + i])
            }
        }
        #expect(throws: KernelError.self) { try ActivationStatistics(columns: 2).hessian() }
    }
}
