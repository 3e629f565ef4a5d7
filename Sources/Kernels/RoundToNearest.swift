/// Round-to-nearest quantization (RTN): every group's scale and zero point from its own values,
/// each weight rounded independently.
public enum RoundToNearest {
    /// Quantizes `weights` (N×K, row-major; N outputs, K inputs) group by group along the input.
    /// - Parameters:
    ///   - scheme: bits, symmetry, group size (must divide K), scale format.
    ///   - clipping: optional MSE clipping search per group.
    ///   - hessianDiagonal: diag(H) (K values) to weight the clipping search's error, or nil.
    /// - Returns: codes, scales, zero points and the trivial g_idx.
    /// - Throws: `KernelError.invalidArgument` for a group size that does not divide K or a
    ///   diagonal of the wrong length; `.nonFinite` for NaN or ±Inf in `weights`.
    public static func quantize(
        _ weights: Matrix, scheme: QuantizationScheme, clipping: ClippingSearch? = nil, hessianDiagonal: [Float]? = nil, name: String = ""
    ) throws(KernelError) -> QuantizedWeights {
        let context = name.isEmpty ? "RTN" : "RTN \(name)"
        let (rows, columns) = (weights.rows, weights.columns)
        let length = try scheme.groupLength(columns: columns)
        let groups = columns / length
        if let hessianDiagonal, hessianDiagonal.count != columns {
            throw KernelError(.invalidArgument, "RTN: Hessian diagonal has \(hessianDiagonal.count) entries for \(columns) input columns")
        }
        try checkFinite(weights, context)
        var codes = [Int8](repeating: 0, count: rows * columns)
        var scales = [Float](repeating: 0, count: rows * groups)
        var zeros = [Int8](repeating: 0, count: rows * groups)
        let (codeMin, codeMax) = (Float(scheme.codeMin), Float(scheme.codeMax))
        // A group whose range overflows float32 (finite weights near ±3.4e38) has no grid.
        var overflowing: (row: Int, group: Int)?
        weights.values.withUnsafeBufferPointer { w in
            for n in 0..<rows where overflowing == nil {
                for g in 0..<groups {
                    let start = n * columns + g * length
                    let parameters = hessianDiagonal.withOptionalPointer(offset: g * length) { d in
                        QuantizationGrid.fit(w.baseAddress! + start, count: length, weights: d, scheme: scheme, clipping: clipping)
                    }
                    guard parameters.scale.isFinite, parameters.zero.isFinite else {
                        overflowing = (n, g)
                        break
                    }
                    scales[n * groups + g] = parameters.scale
                    zeros[n * groups + g] = Int8(parameters.zero)
                    for k in start..<(start + length) {
                        codes[k] = Int8(parameters.code(w[k], codeMin: codeMin, codeMax: codeMax))
                    }
                }
            }
        }
        if let (row, group) = overflowing {
            let values = weights.values[(row * columns + group * length)..<(row * columns + (group + 1) * length)]
            throw KernelError(.nonFinite, "\(context): row \(row), group \(group): the range of its weights [\(values.min() ?? 0), \(values.max() ?? 0)] overflows float32; "
                              + "these are not the weights of a working model")
        }
        return QuantizedWeights(
            unchecked: scheme, rows: rows, columns: columns, codes: codes, scales: scales, zeroPoints: zeros,
            groupIndex: QuantizedWeights.trivialGroupIndex(columns: columns, groupLength: length))
    }

    /// Throws `.nonFinite` naming the first NaN or ±Inf of `matrix`.
    static func checkFinite(_ matrix: Matrix, _ context: String) throws(KernelError) {
        guard let index = matrix.values.firstIndex(where: { !$0.isFinite }) else { return }
        throw KernelError(.nonFinite, "\(context): weight [\(index / matrix.columns), \(index % matrix.columns)] of the \(matrix.rows)×\(matrix.columns) matrix is \(matrix.values[index])")
    }
}

extension Optional where Wrapped == [Float] {
    /// Calls `body` with a pointer `offset` elements into the array, or with nil.
    func withOptionalPointer<R>(offset: Int, _ body: (UnsafePointer<Float>?) -> R) -> R {
        switch self {
        case .none: body(nil)
        case .some(let array): array.withUnsafeBufferPointer { body($0.baseAddress! + offset) }
        }
    }
}
