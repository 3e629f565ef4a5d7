import Tensors

/// Helpers for the `[String: Tensor]` form in which kernel values travel (wire frames, files).
/// Integers are read and written exactly through their raw little-endian bytes (`Tensor.floats()`
/// is exact only to 2^24).
extension Tensor {
    /// A tensor of integers of `dtype` (I8, I32, I64 or U8, matching `T`'s width).
    static func integers<T: FixedWidthInteger>(_ values: [T], dtype: DType, shape: [Int]) -> Tensor {
        precondition(dtype.byteSize == MemoryLayout<T>.size && values.count == shape.reduce(1, *))
        let storage = TensorStorage(count: values.count * MemoryLayout<T>.size) { destination in
            for (i, value) in values.enumerated() {
                destination.storeBytes(of: value.littleEndian, toByteOffset: i * MemoryLayout<T>.size, as: T.self)
            }
        }
        // Cannot throw: the precondition makes the byte count the shape's.
        return try! Tensor(dtype: dtype, shape: shape, storage: storage)
    }

    /// The elements read as `T` (the dtype's width must match `T`'s).
    func integers<T: FixedWidthInteger>(as _: T.Type) -> [T] {
        precondition(dtype.byteSize == MemoryLayout<T>.size)
        return withUnsafeBytes { source in
            (0..<elementCount).map { T(littleEndian: source.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
        }
    }
}

/// Reads named tensors out of a dictionary, checking dtype and shape, with errors that name the
/// value being decoded (`context`) and the tensor.
struct TensorReader {
    let tensors: [String: Tensor]
    let context: String

    func tensor(_ name: String, dtypes: [DType], shape: [Int]? = nil) throws(KernelError) -> Tensor {
        guard let tensor = tensors[name] else {
            throw KernelError(.malformedTensor, "\(context): tensor \"\(name)\" is missing (found: \(tensors.keys.sorted().joined(separator: ", ")))")
        }
        guard dtypes.contains(tensor.dtype) else {
            throw KernelError(.malformedTensor, "\(context): tensor \"\(name)\" is \(tensor.dtype.rawValue), expected \(dtypes.map(\.rawValue).joined(separator: " or "))")
        }
        if let shape, tensor.shape != shape {
            throw KernelError(.malformedTensor, "\(context): tensor \"\(name)\" has shape \(tensor.shape), expected \(shape)")
        }
        return tensor
    }

    func doubles(_ name: String, count: Int) throws(KernelError) -> [Double] {
        try tensor(name, dtypes: [.f64], shape: [count]).doubles()
    }

    func floats(_ name: String, shape: [Int]) throws(KernelError) -> [Float] {
        try tensor(name, dtypes: [.f32], shape: shape).floats()
    }

    func int64s(_ name: String, count: Int) throws(KernelError) -> [Int] {
        try tensor(name, dtypes: [.i64], shape: [count]).integers(as: Int64.self).map { Int($0) }
    }

    func int32s(_ name: String, shape: [Int]) throws(KernelError) -> [Int32] {
        try tensor(name, dtypes: [.i32], shape: shape).integers(as: Int32.self)
    }

    func int8s(_ name: String, shape: [Int]) throws(KernelError) -> [Int8] {
        try tensor(name, dtypes: [.i8], shape: shape).integers(as: Int8.self)
    }

    /// A check on decoded values, failing with `message` about the context.
    func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(KernelError) {
        if !condition { throw KernelError(.malformedTensor, "\(context): \(message())") }
    }
}
