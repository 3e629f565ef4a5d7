/// Conversion of every dtype to and from Float.
extension Tensor {
    /// A tensor of `dtype` holding `values` (converted from Float, rounding to nearest even for
    /// narrower float formats and toward zero, saturating, for integer types).
    /// - Precondition: `values.count` equals the product of `shape`.
    public init(floats values: [Float], shape: [Int], dtype: DType = .f32) {
        precondition(values.count == shape.reduce(1, *), "Tensor(floats:): \(values.count) values for shape \(shape)")
        let storage = values.withUnsafeBufferPointer { source in
            TensorStorage(count: values.count * dtype.byteSize) { destination in
                Self.encode(source, as: dtype, into: destination)
            }
        }
        // The byte count matches by construction.
        self = try! Tensor(dtype: dtype, shape: shape, storage: storage)
    }

    /// The elements as Float. Exact for every float dtype and for integers up to 2^24 in magnitude.
    public func floats() -> [Float] {
        [Float](unsafeUninitializedCapacity: elementCount) { destination, initialized in
            withUnsafeBytes { source in Self.decode(source, as: dtype, into: destination) }
            initialized = elementCount
        }
    }

    /// Writes the elements, converted to Float, into `destination` (which holds `elementCount` values).
    public func copyFloats(into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(destination.count == elementCount, "copyFloats: destination holds \(destination.count), tensor \(elementCount)")
        withUnsafeBytes { source in Self.decode(source, as: dtype, into: destination) }
    }

    /// The same data converted to `target` (a copy even when the type is unchanged).
    public func converted(to target: DType) -> Tensor {
        // Cannot throw: the same dtype and shape over a copy of this tensor's own bytes.
        if target == dtype { return try! Tensor(dtype: dtype, shape: shape, storage: TensorStorage(copying: storage.bytes)) }
        return Tensor(floats: floats(), shape: shape, dtype: target)
    }

    static func decode(_ source: UnsafeRawBufferPointer, as dtype: DType, into destination: UnsafeMutableBufferPointer<Float>) {
        switch dtype {
        case .f32:
            if let from = source.baseAddress, let to = destination.baseAddress {
                UnsafeMutableRawPointer(to).copyMemory(from: from, byteCount: source.count)
            }
        case .f64:
            for i in 0..<destination.count {
                destination[i] = Float(Double(bitPattern: UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 8 &* i, as: UInt64.self))))
            }
        case .f16: HalfConversion.float16ToFloat32(source, into: destination)
        case .bf16: HalfConversion.bfloat16ToFloat32(source, into: destination)
        case .f8e4m3: Float8Conversion.widen(source, table: Float8Conversion.e4m3Table, into: destination)
        case .f8e5m2: Float8Conversion.widen(source, table: Float8Conversion.e5m2Table, into: destination)
        case .i8: widenIntegers(source, Int8.self, into: destination)
        case .i16: widenIntegers(source, Int16.self, into: destination)
        case .i32: widenIntegers(source, Int32.self, into: destination)
        case .i64: widenIntegers(source, Int64.self, into: destination)
        case .u8: widenIntegers(source, UInt8.self, into: destination)
        case .bool: for i in 0..<destination.count { destination[i] = source[i] == 0 ? 0 : 1 }
        }
    }

    static func encode(_ source: UnsafeBufferPointer<Float>, as dtype: DType, into destination: UnsafeMutableRawBufferPointer) {
        switch dtype {
        case .f32:
            if let from = source.baseAddress, let to = destination.baseAddress {
                to.copyMemory(from: from, byteCount: destination.count)
            }
        case .f64:
            for i in 0..<source.count {
                destination.storeBytes(of: Double(source[i]).bitPattern.littleEndian, toByteOffset: 8 &* i, as: UInt64.self)
            }
        case .f16: HalfConversion.float32ToFloat16(source, into: destination)
        case .bf16: HalfConversion.float32ToBFloat16(source, into: destination)
        case .f8e4m3: Float8Conversion.narrow(source, format: .e4m3, into: destination)
        case .f8e5m2: Float8Conversion.narrow(source, format: .e5m2, into: destination)
        case .i8: narrowIntegers(source, Int8.self, into: destination)
        case .i16: narrowIntegers(source, Int16.self, into: destination)
        case .i32: narrowIntegers(source, Int32.self, into: destination)
        case .i64: narrowIntegers(source, Int64.self, into: destination)
        case .u8: narrowIntegers(source, UInt8.self, into: destination)
        case .bool: for i in 0..<source.count { destination[i] = source[i] != 0 ? 1 : 0 }
        }
    }

    private static func widenIntegers<I: FixedWidthInteger>(_ source: UnsafeRawBufferPointer, _: I.Type, into destination: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<destination.count {
            destination[i] = Float(I(littleEndian: source.loadUnaligned(fromByteOffset: i * I.bitWidth / 8, as: I.self)))
        }
    }

    private static func narrowIntegers<I: FixedWidthInteger>(_ source: UnsafeBufferPointer<Float>, _: I.Type, into destination: UnsafeMutableRawBufferPointer) {
        for i in 0..<source.count {
            let value = source[i]
            let clamped: I = value.isNaN ? 0 : (value >= Float(I.max) ? I.max : (value <= Float(I.min) ? I.min : I(value)))
            destination.storeBytes(of: clamped.littleEndian, toByteOffset: i * I.bitWidth / 8, as: I.self)
        }
    }
}
