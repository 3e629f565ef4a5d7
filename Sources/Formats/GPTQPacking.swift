import Kernels
import Tensors

/// GPTQ v1 tensors (AutoGPTQ's `QuantLinear`, what engines expect for `checkpoint_format: "gptq"`),
/// names relative to the module:
///   qweight  I32 [K·b/32, N]  per output column n, the dense bit stream over k of the unsigned
///            code q + 2^(b−1) (for b = 3 this is AutoGPTQ's 10-10-(2+1)… word layout)
///   qzeros   I32 [G, N·b/32]  per group, the dense bit stream over n of (z + 2^(b−1)) − 1
///   scales   F16 [G, N]
///   g_idx    I32 [K]
/// A loader computes W = (q_u − (qzeros_u + 1)) · s. Writing the zero point minus one is the v1
/// convention; a zero point of 0 (unsigned) cannot be stored and is refused.
public enum GPTQPacking {
    /// Widths GPTQ v1 loaders accept.
    public static let supportedBits: Set<Int> = [2, 3, 4, 8]

    /// Packs `weights` in the GPTQ v1 layout. Scales are rounded to F16; quantize with
    /// `ScaleFormat.float16` for the codes to be optimal for them.
    /// - Throws: `KernelError.invalidArgument` for widths other than 2, 3, 4, 8 or K·b, N·b not
    ///   multiples of 32; `.unrepresentable` for an unsigned zero point of 0, naming row and group.
    public static func pack(_ weights: QuantizedWeights) throws(KernelError) -> [String: Tensor] {
        let (n, k, b, g) = (weights.rows, weights.columns, weights.scheme.bits, weights.groupCount)
        try checkShape(rows: n, columns: k, bits: b, context: "GPTQ packing")
        let offset = Int32(1 << (b - 1))
        for (index, zero) in weights.zeroPoints.enumerated() where Int32(zero) + offset == 0 {
            throw KernelError(.unrepresentable, "GPTQ packing: row \(index / g), group \(index % g) has zero point 0 (unsigned), which GPTQ v1 stores as zero − 1 = −1 and loaders read back as \(1 << b); use compressed-tensors or a symmetric scheme")
        }
        let weightRows = k * b / 32, zeroColumns = n * b / 32
        var qweight = [Int32](repeating: 0, count: weightRows * n)
        weights.codes.withUnsafeBufferPointer { codes in
            for column in 0..<n {
                BitPacking.pack(count: k, bits: b, value: { UInt32(bitPattern: Int32(codes[column * k + $0]) + offset) },
                                store: { qweight[$0 * n + column] = Int32(bitPattern: $1) })
            }
        }
        var qzeros = [Int32](repeating: 0, count: g * zeroColumns)
        var scales = [Float](repeating: 0, count: g * n)
        for group in 0..<g {
            BitPacking.pack(count: n, bits: b, value: { UInt32(bitPattern: Int32(weights.zeroPoints[$0 * g + group]) + offset - 1) },
                            store: { qzeros[group * zeroColumns + $0] = Int32(bitPattern: $1) })
            for column in 0..<n { scales[group * n + column] = weights.scales[column * g + group] }
        }
        return [
            "qweight": .integers(qweight, dtype: .i32, shape: [weightRows, n]),
            "qzeros": .integers(qzeros, dtype: .i32, shape: [g, zeroColumns]),
            "scales": Tensor(floats: scales, shape: [g, n], dtype: .f16),
            "g_idx": .integers(weights.groupIndex, dtype: .i32, shape: [k]),
        ]
    }

    /// Reads GPTQ v1 tensors back.
    /// - Parameters:
    ///   - scheme: bits, symmetry and group size (from `quantize_config.json`); `symmetric` only
    ///     decides the zero points' check: a symmetric checkpoint must store 2^(b−1) − 1 everywhere.
    ///   - name: the module, for error messages.
    /// - Throws: `KernelError.malformedTensor` naming the tensor that is missing or does not fit.
    public static func unpack(_ tensors: [String: Tensor], scheme: QuantizationScheme, name: String) throws(KernelError) -> QuantizedWeights {
        let context = "GPTQ \(name)"
        let reader = TensorReader(tensors: tensors, context: context)
        let b = scheme.bits
        let qweightTensor = try reader.tensor("qweight", dtypes: [.i32])
        try reader.require(qweightTensor.shape.count == 2, "qweight has shape \(qweightTensor.shape), expected [K·b/32, N]")
        let (k, n) = (qweightTensor.shape[0] * 32 / b, qweightTensor.shape[1])
        try reader.require(qweightTensor.shape[0] * 32 % b == 0, "qweight has \(qweightTensor.shape[0]) rows, not a whole number of \(b)-bit columns")
        do { try checkShape(rows: n, columns: k, bits: b, context: context) } catch { throw KernelError(.malformedTensor, error.message) }
        let g: Int
        do { g = try scheme.groupCount(columns: k) } catch { throw KernelError(.malformedTensor, "\(context): \(error.message)") }
        let offset = Int32(1 << (b - 1))
        let qweight = qweightTensor.integers(as: Int32.self)
        var codes = [Int8](repeating: 0, count: n * k)
        for column in 0..<n {
            BitPacking.unpack(count: k, bits: b, word: { UInt32(bitPattern: qweight[$0 * n + column]) },
                              store: { codes[column * k + $0] = Int8(Int32(bitPattern: $1) - offset) })
        }
        let zeroColumns = n * b / 32
        let qzeros = try reader.int32s("qzeros", shape: [g, zeroColumns])
        let scalesByGroup = try reader.tensor("scales", dtypes: [.f16, .f32, .bf16], shape: [g, n]).floats()
        var zeros = [Int8](repeating: 0, count: n * g)
        var scales = [Float](repeating: 0, count: n * g)
        var outOfRange: (Int, Int)?
        for group in 0..<g {
            BitPacking.unpack(count: n, bits: b, word: { UInt32(bitPattern: qzeros[group * zeroColumns + $0]) }, store: { column, stored in
                let zero = Int32(bitPattern: stored) + 1 - offset
                if zero > Int32(scheme.codeMax) { outOfRange = outOfRange ?? (column, group) }
                zeros[column * g + group] = Int8(clamping: zero)
            })
            for column in 0..<n { scales[column * g + group] = scalesByGroup[group * n + column] }
        }
        if let (column, group) = outOfRange {
            throw KernelError(.malformedTensor, "\(context): qzeros for column \(column), group \(group) decodes to zero point \(1 << b) (unsigned), outside the \(b)-bit range")
        }
        if scheme.symmetric, let index = zeros.firstIndex(where: { $0 != 0 }) {
            throw KernelError(.malformedTensor, "\(context): the scheme is symmetric but column \(index / g), group \(index % g) has zero point \(Int(zeros[index]) + Int(offset)) (unsigned), expected \(offset)")
        }
        let groupIndex = try reader.int32s("g_idx", shape: [k])
        do {
            return try QuantizedWeights(scheme: scheme, rows: n, columns: k, codes: codes, scales: scales, zeroPoints: zeros, groupIndex: groupIndex)
        } catch {
            throw KernelError(.malformedTensor, "\(context): \(error.message)")
        }
    }

    private static func checkShape(rows n: Int, columns k: Int, bits b: Int, context: String) throws(KernelError) {
        guard supportedBits.contains(b) else {
            throw KernelError(.invalidArgument, "\(context): GPTQ v1 loaders read 2, 3, 4 or 8 bits, not \(b); use compressed-tensors")
        }
        guard k * b % 32 == 0, n * b % 32 == 0 else {
            throw KernelError(.invalidArgument, "\(context): GPTQ v1 packs whole 32-bit words, so K·b and N·b must be multiples of 32; found K = \(k), N = \(n), b = \(b)")
        }
    }
}
