import Tensors

/// Reads named tensors out of a dictionary, checking dtype and shape, with errors that name the
/// value being decoded (`context`) and the tensor.
package struct TensorReader {
    package let tensors: [String: Tensor]
    package let context: String

    package init(tensors: [String: Tensor], context: String) {
        self.tensors = tensors
        self.context = context
    }

    package func tensor(_ name: String, dtypes: [DType], shape: [Int]? = nil) throws(KernelError) -> Tensor {
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

    package func doubles(_ name: String, count: Int) throws(KernelError) -> [Double] {
        try tensor(name, dtypes: [.f64], shape: [count]).doubles()
    }

    package func floats(_ name: String, shape: [Int]) throws(KernelError) -> [Float] {
        try tensor(name, dtypes: [.f32], shape: shape).floats()
    }

    package func int64s(_ name: String, count: Int) throws(KernelError) -> [Int] {
        try tensor(name, dtypes: [.i64], shape: [count]).integers(as: Int64.self).map { Int($0) }
    }

    package func int32s(_ name: String, shape: [Int]) throws(KernelError) -> [Int32] {
        try tensor(name, dtypes: [.i32], shape: shape).integers(as: Int32.self)
    }

    package func int8s(_ name: String, shape: [Int]) throws(KernelError) -> [Int8] {
        try tensor(name, dtypes: [.i8], shape: shape).integers(as: Int8.self)
    }

    /// A check on decoded values, failing with `message` about the context.
    package func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(KernelError) {
        if !condition { throw KernelError(.malformedTensor, "\(context): \(message())") }
    }
}
