/// Integer tensors, read and written exactly through their raw little-endian bytes
/// (`Tensor.floats()` is exact only to 2^24).
extension Tensor {
    /// A tensor of integers of `dtype` (I8, I32, I64 or U8, matching `T`'s width).
    /// - Precondition: `dtype`'s width is `T`'s and `values` fill `shape` (programming errors).
    public static func integers<T: FixedWidthInteger>(_ values: [T], dtype: DType, shape: [Int]) -> Tensor {
        precondition(dtype.byteSize == MemoryLayout<T>.size && values.count == shape.reduce(1, *),
                     "Tensor.integers: \(values.count) \(T.self) do not make \(dtype.rawValue) \(shape)")
        let storage = TensorStorage(count: values.count * MemoryLayout<T>.size) { destination in
            // One copy on a little-endian host: element by element, this generic function is not
            // specialized across modules and costs a metadata lookup per element (≈ 1 s per
            // SmolLM2 layer of quantized weights in the job's codec, measured with perf).
            #if _endian(little)
            values.withUnsafeBytes { source in
                if let base = source.baseAddress, source.count > 0 { destination.baseAddress?.copyMemory(from: base, byteCount: source.count) }
            }
            #else
            for (i, value) in values.enumerated() {
                destination.storeBytes(of: value.littleEndian, toByteOffset: i * MemoryLayout<T>.size, as: T.self)
            }
            #endif
        }
        // Cannot throw: the precondition makes the byte count the shape's.
        return try! Tensor(dtype: dtype, shape: shape, storage: storage)
    }

    /// The elements read as `T`.
    /// - Precondition: the dtype's width is `T`'s.
    public func integers<T: FixedWidthInteger>(as _: T.Type) -> [T] {
        precondition(dtype.byteSize == MemoryLayout<T>.size, "Tensor.integers(as:): \(dtype.rawValue) is not \(T.self)")
        let count = elementCount
        return withUnsafeBytes { source in
            #if _endian(little)
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                if let base = source.baseAddress, count > 0 {
                    UnsafeMutableRawBufferPointer(buffer).baseAddress?.copyMemory(from: base, byteCount: count * MemoryLayout<T>.size)
                }
                initialized = count
            }
            #else
            (0..<count).map { T(littleEndian: source.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
            #endif
        }
    }
}
