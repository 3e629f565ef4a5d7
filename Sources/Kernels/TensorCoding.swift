import Tensors

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
