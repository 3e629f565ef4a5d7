import Tensors

/// Statistics as `[String: Tensor]`, to travel between machines and be saved and merged later.
///
///   "token_count"  I64 [1]
///   "xtx_upper"    U8 [bytes]  Σ xxᵀ, K(K+1)/2 sums: the upper triangle packed row-major
///   "absmax"       F32 [K]
///   "sum_abs"      U8 [bytes]  K sums
///   "sum_squares"  U8 [bytes]  K sums
/// Sums are `FixedPointSum` integers (units of 2⁻⁴⁸) in `FixedPointPacking`'s form (the fewest
/// bytes that keep them exact, per block of 64): the round trip is exact.
extension ActivationStatistics {
    /// The statistics as named tensors.
    public func tensors() -> [String: Tensor] {
        [
            "token_count": .integers([Int64(tokenCount)], dtype: .i64, shape: [1]),
            "xtx_upper": Self.tensor(gramSums),
            "absmax": Tensor(floats: absMax, shape: [columns]),
            "sum_abs": Self.tensor(absSums),
            "sum_squares": Self.tensor(squareSums),
        ]
    }

    /// Statistics read back from `tensors()`'s form.
    /// - Parameter name: what the statistics belong to (layer and module), for error messages.
    /// - Throws: `KernelError.malformedTensor` naming the tensor that is missing, mistyped,
    ///   misshapen or holds impossible values (negative count or sums, NaN).
    public init(tensors: [String: Tensor], name: String) throws(KernelError) {
        let reader = TensorReader(tensors: tensors, context: "statistics \(name)")
        let absMaxTensor = try reader.tensor("absmax", dtypes: [.f32])
        try reader.require(absMaxTensor.shape.count == 1 && absMaxTensor.shape[0] > 0, "\"absmax\" has shape \(absMaxTensor.shape), expected [K] with K > 0")
        let k = absMaxTensor.shape[0]
        let count = try reader.int64s("token_count", count: 1)[0]
        let gram = try Self.sums(reader, "xtx_upper", count: k * (k + 1) / 2)
        let absMax = absMaxTensor.floats()
        let sumAbs = try Self.sums(reader, "sum_abs", count: k)
        let sumSquares = try Self.sums(reader, "sum_squares", count: k)
        try reader.require(count >= 0, "token count \(count) is negative")
        try reader.require(absMax.allSatisfy { $0 >= 0 && $0.isFinite }, "\"absmax\" holds a negative or non-finite value")
        try reader.require(sumAbs.allSatisfy { $0 >= 0 } && sumSquares.allSatisfy { $0 >= 0 },
                           "\"sum_abs\" or \"sum_squares\" holds a negative value")
        try reader.require((0..<k).allSatisfy { gram[Self.packedRowStart($0, columns: k)] >= 0 }, "\"xtx_upper\" has a negative diagonal entry")
        self.init(columns: k, tokenCount: count, gramSums: gram, absMax: absMax, absSums: sumAbs, squareSums: sumSquares)
    }

    /// Statistics from float64 sums computed elsewhere (another tool, a reference
    /// implementation), converted to fixed point (`FixedPointSum`: truncated below 2⁻⁴⁸).
    /// - Throws: `KernelError.invalidArgument` for arrays of the wrong length, negative counts or
    ///   sums; `.unrepresentable` for a sum beyond the fixed-point range or not finite.
    public init(columns k: Int, tokenCount: Int, gramUpper: [Double], absMax: [Float], sumAbs: [Double], sumSquares: [Double]) throws(KernelError) {
        guard k > 0, tokenCount >= 0, gramUpper.count == k * (k + 1) / 2, absMax.count == k, sumAbs.count == k, sumSquares.count == k else {
            throw KernelError(.invalidArgument, "statistics of width \(k): arrays of \(gramUpper.count), \(absMax.count), \(sumAbs.count), \(sumSquares.count) values and \(tokenCount) tokens do not fit")
        }
        for (name, values) in [("XᵀX", gramUpper), ("Σ|x|", sumAbs), ("Σx²", sumSquares)] {
            if let bad = values.first(where: { !$0.isFinite || abs($0) >= 0x1p78 }) {
                throw KernelError(.unrepresentable, "statistics: \(name) holds \(bad), outside the fixed-point range ±2⁷⁸")
            }
        }
        self.init(columns: k, tokenCount: tokenCount, gramSums: gramUpper.map(FixedPointSum.fixed), absMax: absMax,
                  absSums: sumAbs.map(FixedPointSum.fixed), squareSums: sumSquares.map(FixedPointSum.fixed))
    }

    /// Fixed-point sums as a U8 [bytes] tensor, packed (`FixedPointPacking`).
    private static func tensor(_ sums: [Int128]) -> Tensor {
        let packed = FixedPointPacking.pack(sums)
        let storage = packed.withUnsafeBytes { TensorStorage(copying: $0) }
        // Cannot throw: U8 [n] is n bytes.
        return try! Tensor(dtype: .u8, shape: [packed.count], storage: storage)
    }

    /// `count` fixed-point sums read back from a packed U8 [bytes] tensor.
    private static func sums(_ reader: TensorReader, _ name: String, count: Int) throws(KernelError) -> [Int128] {
        let tensor = try reader.tensor(name, dtypes: [.u8])
        try reader.require(tensor.shape.count == 1, "tensor \"\(name)\" has shape \(tensor.shape), expected [bytes] (packed fixed-point sums)")
        do {
            defer { withExtendedLifetime(tensor) {} }
            return try FixedPointPacking.unpack(tensor.storage.bytes, count: count)
        } catch {
            throw KernelError(.malformedTensor, "\(reader.context): tensor \"\(name)\" (\(count) packed sums) \(error.message)")
        }
    }
}

extension ActivationStatistics {
    /// The statistics the same tokens would have after each input channel j is multiplied by
    /// c_j (x' = x·diag(c)): XᵀX entries scaled by c_i·c_j, |x| sums and maxima by |c_j|, squares
    /// by c_j². What a linear sees after SmoothQuant/AWQ scales s are folded (c = 1/s).
    /// Computed in Double from the exact sums and converted back, so equal inputs give equal bits.
    /// - Throws: `KernelError.invalidArgument` for a vector of the wrong length or a non-finite entry.
    public func scaledInputs(by c: [Float]) throws(KernelError) -> ActivationStatistics {
        guard c.count == columns, c.allSatisfy(\.isFinite) else {
            throw KernelError(.invalidArgument, "statistics: \(c.count) input scales for width \(columns), or a non-finite one")
        }
        let k = columns
        var gram = gramSums
        gram.withUnsafeMutableBufferPointer { sums in
            for i in 0..<k {
                let start = Self.packedRowStart(i, columns: k) - i
                for j in i..<k {
                    sums[start + j] = FixedPointSum.fixed(FixedPointSum.double(sums[start + j]) * Double(c[i]) * Double(c[j]))
                }
            }
        }
        return ActivationStatistics(
            columns: k, tokenCount: tokenCount, gramSums: gram, absMax: zip(absMax, c).map { $0 * abs($1) },
            absSums: zip(absSums, c).map { FixedPointSum.fixed(FixedPointSum.double($0) * Double(abs($1))) },
            squareSums: zip(squareSums, c).map { FixedPointSum.fixed(FixedPointSum.double($0) * Double($1) * Double($1)) })
    }
}

extension ActivationStatistics {
    /// XᵀX as an F64 [K, K] tensor, written in place (no [Double] in between: at K = 28672 the
    /// matrix alone is 6.6 GB).
    public func gramTensor() -> Tensor {
        let k = columns
        let storage = TensorStorage(count: k * k * MemoryLayout<Double>.stride) { bytes in
            fillGram(bytes.bindMemory(to: Double.self))
        }
        // Cannot throw: the storage was allocated as K × K doubles.
        return try! Tensor(dtype: .f64, shape: [k, k], storage: storage)
    }
}
