import Kernels
import Tensors
import Testing
import TestSupport

@Suite("GPTQ's factor from H in Float (made on a worker)")
struct GPTQHessianTests {
    @Test("the factor from the Float H has the bits of the factor from the exact sums: every fixture, act-order or not, dead columns and damping retries included", arguments: ["p1", "p2", "p3"], [false, true])
    func sameBits(problem name: String, actOrder: Bool) throws {
        let statistics = KernelFixtures.shared.problem(name).statistics
        let options = GPTQFactorOptions(activationOrder: actOrder)
        let direct = try GPTQ.prepareFactor(statistics: statistics, options: options)
        let hessian = try statistics.gptqHessian()
        let made = try GPTQ.prepareFactor(hessian: hessian, options: options)
        #expect(made == direct)
        // Through the wire form too.
        let back = try GPTQHessian(tensors: hessian.tensors(), name: "test")
        #expect(back == hessian)
        #expect(try GPTQ.prepareFactor(hessian: back, options: options) == direct)
        // Zero damping on rank-deficient p3 takes retries; they agree as well.
        let undamped = GPTQFactorOptions(dampingPercent: 0, activationOrder: actOrder)
        #expect(try GPTQ.prepareFactor(hessian: hessian, options: undamped) == (try GPTQ.prepareFactor(statistics: statistics, options: undamped)))
    }

    @Test("an indefinite H retries and fails as from the sums; float64 and malformed forms are refused, naming what")
    func refusals() throws {
        let statistics = try ActivationStatistics(columns: 2, tokenCount: 2, gramUpper: [1, 2, 1], absMax: [1, 1], sumAbs: [1, 1], sumSquares: [1, 1])
        let hessian = try statistics.gptqHessian()
        #expect(try GPTQ.prepareFactor(hessian: hessian).dampingRetries == 3)
        let failed = #expect(throws: KernelError.self) { try GPTQ.prepareFactor(hessian: hessian, options: GPTQFactorOptions(maxDampingRetries: 2), name: "layer 1 down") }
        #expect(failed?.code == .factorizationFailed && failed?.message.contains("GPTQ layer 1 down") == true)
        let float64 = #expect(throws: KernelError.self) { try GPTQ.prepareFactor(hessian: hessian, options: GPTQFactorOptions(precision: .float64)) }
        #expect(float64?.message.contains("float32") == true)
        #expect(throws: KernelError.self) { try GPTQHessian(columns: 2, tokenCount: 2, upper: [1, 2], diagonal: [1, 1]) }
        #expect(throws: KernelError.self) { try GPTQHessian(columns: 2, tokenCount: 2, upper: [1, .nan, 1], diagonal: [1, 1]) }
        #expect(throws: KernelError.self) { try GPTQHessian(columns: 2, tokenCount: 2, upper: [1, 2, 1], diagonal: [1, -1]) }
        var tensors = hessian.tensors()
        tensors["upper"] = Tensor(floats: [1, 2], shape: [2])
        let malformed = #expect(throws: KernelError.self) { try GPTQHessian(tensors: tensors, name: "layer 2 qkv") }
        #expect(malformed?.message.contains("layer 2 qkv") == true, "\(malformed?.message ?? "")")
    }
}
