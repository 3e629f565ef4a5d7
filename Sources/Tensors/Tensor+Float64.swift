/// Exact conversion between `[Double]` and F64 tensors (and widening of every other dtype).
extension Tensor {
    /// An F64 tensor holding `values` exactly.
    /// - Precondition: `values.count` equals the product of `shape`.
    public init(doubles values: [Double], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "Tensor(doubles:): \(values.count) values for shape \(shape)")
        let storage = values.withUnsafeBytes { TensorStorage(copying: $0) }
        // The byte count matches by construction (Double is little-endian IEEE binary64 on every
        // platform Swift supports, so the in-memory bytes are the safetensors bytes).
        self = try! Tensor(dtype: .f64, shape: shape, storage: storage)
    }

    /// The elements as Double: exact for F64 and every float dtype, and for integers up to 2^53.
    public func doubles() -> [Double] {
        guard dtype == .f64 else { return floats().map(Double.init) }
        return [Double](unsafeUninitializedCapacity: elementCount) { destination, initialized in
            withUnsafeBytes { source in
                for i in 0..<elementCount {
                    destination[i] = Double(bitPattern: UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 8 &* i, as: UInt64.self)))
                }
            }
            initialized = elementCount
        }
    }
}
