/// A dense, contiguous, row-major tensor of one element type: the exchange type of checkpoints
/// and of the wire. Arithmetic happens on `[Float]` buffers elsewhere; a tensor converts to and
/// from them (`floats()`, `init(floats:shape:)`).
public struct Tensor: Sendable {
    public let dtype: DType
    /// Sizes of the dimensions, outermost first. `[]` is a scalar (one element).
    public let shape: [Int]
    /// Exactly `elementCount * dtype.byteSize` little-endian bytes.
    public let storage: TensorStorage

    /// Wraps `storage` after checking that its size matches `shape` and `dtype`.
    /// - Throws: `TensorError` when a dimension is negative or the byte count differs.
    public init(dtype: DType, shape: [Int], storage: TensorStorage) throws {
        let expected = try Self.byteCount(dtype: dtype, shape: shape)
        guard storage.bytes.count == expected else {
            throw TensorError("a \(dtype.rawValue) tensor of shape \(shape) needs \(expected) bytes, found \(storage.bytes.count)")
        }
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
    }

    /// A tensor holding a copy of `bytes`.
    public init(dtype: DType, shape: [Int], bytes: some Collection<UInt8>) throws {
        let storage = TensorStorage(count: bytes.count) { destination in
            _ = destination.initializeMemory(as: UInt8.self, from: bytes)
        }
        try self.init(dtype: dtype, shape: shape, storage: storage)
    }

    /// Number of elements: the product of the shape (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    /// Number of bytes of the data.
    public var byteCount: Int { storage.bytes.count }

    /// The bytes a tensor of this type and shape occupies.
    /// - Throws: `TensorError` for a negative dimension or a size that overflows `Int`.
    public static func byteCount(dtype: DType, shape: [Int]) throws -> Int {
        var count = dtype.byteSize
        for dimension in shape {
            guard dimension >= 0 else { throw TensorError("shape \(shape) has a negative dimension") }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw TensorError("shape \(shape) of \(dtype.rawValue) overflows the addressable size") }
            count = product
        }
        return count
    }

    /// Calls `body` with the raw bytes, which are valid only inside the call.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(storage.bytes) }
    }
}

/// Equal when dtype, shape and every byte are equal (so NaN payloads compare by their bits, and
/// a tensor equals its own round trip through any exact encoding).
extension Tensor: Equatable {
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.dtype == rhs.dtype && lhs.shape == rhs.shape && lhs.storage.bytes.elementsEqual(rhs.storage.bytes)
    }
}
