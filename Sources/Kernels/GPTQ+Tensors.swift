import Tensors

/// The values of the distributed GPTQ job as `[String: Tensor]`, to travel as wire frames.
///
/// GPTQFactor:
///   "columns_order"     I32 [K]  permutation (processing position → original column)
///   "dead_columns"      I32 [D]
///   "hessian_diagonal"  F32 [K]  processing order
///   "hinv_upper"        F32 [K(K+1)/2]  U's upper triangle packed row-major (half of K×K on the wire)
///   "damping"           F64 [2] = [percent used, λ]
///   "counts"            I64 [2] = [retries, tokens]
/// GPTQSolveRequest:
///   "weight"            [R, K] F32, BF16 or F16 (widened to F32)
///   "first_row"         I64 [1]
///   "options"           I64 [8] = [bits, symmetric, group size, scale format, static groups,
///                                  block size, row tile, clipping grid (0 = none)]
///   "clipping_max_shrink" F64 [1]
/// GPTQSolveResult: QuantizedWeights' tensors plus
///   "first_row"         I64 [1]
///   "row_losses"        F64 [R]
extension GPTQFactor {
    public func tensors() -> [String: Tensor] {
        let k = columns
        var packed = [Float]()
        packed.reserveCapacity(k * (k + 1) / 2)
        for i in 0..<k { packed.append(contentsOf: inverseFactor[(i * k + i)..<((i + 1) * k)]) }
        return [
            "columns_order": .integers(permutation, dtype: .i32, shape: [k]),
            "dead_columns": .integers(deadColumns, dtype: .i32, shape: [deadColumns.count]),
            "hessian_diagonal": Tensor(floats: hessianDiagonal, shape: [k]),
            "hinv_upper": Tensor(floats: packed, shape: [packed.count]),
            "damping": Tensor(doubles: [dampingPercent, damping], shape: [2]),
            "counts": .integers([Int64(dampingRetries), Int64(tokenCount)], dtype: .i64, shape: [2]),
        ]
    }

    /// A factor read back from `tensors()`'s form, checked as the memberwise initializer checks.
    public init(tensors: [String: Tensor], name: String) throws(KernelError) {
        let reader = TensorReader(tensors: tensors, context: "GPTQ factor \(name)")
        let order = try reader.tensor("columns_order", dtypes: [.i32])
        try reader.require(order.shape.count == 1 && order.shape[0] > 0, "\"columns_order\" has shape \(order.shape), expected [K]")
        let k = order.shape[0]
        let deadTensor = try reader.tensor("dead_columns", dtypes: [.i32])
        try reader.require(deadTensor.shape.count == 1, "\"dead_columns\" has shape \(deadTensor.shape), expected [D]")
        let packed = try reader.floats("hinv_upper", shape: [k * (k + 1) / 2])
        var u = [Float](repeating: 0, count: k * k)
        var offset = 0
        for i in 0..<k {
            for j in i..<k { u[i * k + j] = packed[offset + j - i] }
            offset += k - i
        }
        let damping = try reader.doubles("damping", count: 2)
        let counts = try reader.int64s("counts", count: 2)
        do {
            try self.init(columns: k, permutation: order.integers(as: Int32.self), deadColumns: deadTensor.integers(as: Int32.self),
                          hessianDiagonal: try reader.floats("hessian_diagonal", shape: [k]), inverseFactor: u,
                          dampingPercent: damping[0], damping: damping[1], dampingRetries: counts[0], tokenCount: counts[1])
        } catch {
            throw KernelError(.malformedTensor, error.code == .malformedTensor ? error.message : "GPTQ factor \(name): \(error.message)")
        }
    }
}

extension GPTQSolveRequest {
    public func tensors() -> [String: Tensor] {
        let o = options
        return [
            "weight": Tensor(floats: weights.values, shape: [weights.rows, weights.columns]),
            "first_row": .integers([Int64(firstRow)], dtype: .i64, shape: [1]),
            "options": .integers(o.scheme.encoded + [o.staticGroups ? 1 : 0, Int64(o.blockSize), Int64(o.rowTile), Int64(o.clipping?.grid ?? 0)],
                                 dtype: .i64, shape: [8]),
            "clipping_max_shrink": Tensor(doubles: [o.clipping?.maxShrink ?? 0], shape: [1]),
        ]
    }

    public init(tensors: [String: Tensor], name: String) throws(KernelError) {
        let reader = TensorReader(tensors: tensors, context: "GPTQ request \(name)")
        let weight = try reader.tensor("weight", dtypes: [.f32, .bf16, .f16])
        try reader.require(weight.shape.count == 2, "\"weight\" has shape \(weight.shape), expected [rows, K]")
        let values = try reader.int64s("options", count: 8)
        let scheme = try QuantizationScheme(encoded: Array(values[0..<4]), reader: reader)
        try reader.require((0...1).contains(values[4]) && values[5] > 0 && values[6] > 0 && values[7] >= 0,
                           "options \(values) hold an invalid static-groups flag, block size, row tile or clipping grid")
        var clipping: ClippingSearch?
        if values[7] > 0 {
            do { clipping = try ClippingSearch(grid: values[7], maxShrink: try reader.doubles("clipping_max_shrink", count: 1)[0]) }
            catch { throw KernelError(.malformedTensor, "GPTQ request \(name): \(error.message)") }
        }
        self.init(firstRow: try reader.int64s("first_row", count: 1)[0],
                  weights: Matrix(rows: weight.shape[0], columns: weight.shape[1], values: weight.floats()),
                  options: GPTQSolveOptions(scheme: scheme, staticGroups: values[4] == 1, blockSize: values[5], rowTile: values[6], clipping: clipping))
        try reader.require(firstRow >= 0, "first row \(firstRow) is negative")
    }
}

extension GPTQSolveResult {
    public func tensors() -> [String: Tensor] {
        var tensors = quantized.tensors()
        tensors["first_row"] = .integers([Int64(firstRow)], dtype: .i64, shape: [1])
        tensors["row_losses"] = Tensor(doubles: rowLosses, shape: [rowLosses.count])
        return tensors
    }

    public init(tensors: [String: Tensor], name: String) throws(KernelError) {
        let reader = TensorReader(tensors: tensors, context: "GPTQ result \(name)")
        let quantized = try QuantizedWeights(tensors: tensors, name: name)
        let first = try reader.int64s("first_row", count: 1)[0]
        let losses = try reader.doubles("row_losses", count: quantized.rows)
        try reader.require(first >= 0 && losses.allSatisfy { $0.isFinite && $0 >= 0 }, "first row \(first) or a row loss is invalid")
        self.init(firstRow: first, quantized: quantized, rowLosses: losses)
    }
}
