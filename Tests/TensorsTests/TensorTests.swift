import Tensors
import Testing

@Suite("Tensor")
struct TensorTests {
    @Test("every dtype round-trips exactly representable values", arguments: DType.allCases)
    func roundTrip(dtype: DType) throws {
        let values: [Float] = dtype == .bool ? [0, 1, 1, 0, 1, 0] : (dtype == .u8 ? [0, 1, 2, 3, 100, 255] : [0, 1, -2, 3, -4, 0.5 * (dtype.isFloatingPoint ? 1 : 0)])
        let tensor = Tensor(floats: values, shape: [2, 3], dtype: dtype)
        #expect(tensor.byteCount == 6 * dtype.byteSize)
        #expect(tensor.floats() == values)
        let copy = try Tensor(dtype: dtype, shape: [3, 2], bytes: tensor.withUnsafeBytes { Array($0) })
        #expect(copy.floats() == values)
        #expect(tensor.converted(to: .f32).converted(to: dtype).withUnsafeBytes { Array($0) } == tensor.withUnsafeBytes { Array($0) })
    }

    @Test("integers saturate and NaN becomes zero when narrowing from Float")
    func integerNarrowing() {
        let values: [Float] = [300, -300, .nan, 2.9, -2.9, .infinity]
        #expect(Tensor(floats: values, shape: [6], dtype: .i8).floats() == [127, -128, 0, 2, -2, 127])
        #expect(Tensor(floats: values, shape: [6], dtype: .u8).floats() == [255, 0, 0, 2, 0, 255])
        #expect(Tensor(floats: [3e9, -3e9], shape: [2], dtype: .i32).floats() == [Float(Int32.max), Float(Int32.min)])
    }

    @Test("a byte count that does not match the shape is refused")
    func sizeMismatch() {
        #expect(throws: TensorError.self) { try Tensor(dtype: .f32, shape: [3], bytes: [UInt8](repeating: 0, count: 8)) }
        #expect(throws: TensorError.self) { try Tensor(dtype: .f16, shape: [-1], bytes: [UInt8]()) }
        #expect(throws: TensorError.self) { try Tensor.byteCount(dtype: .i64, shape: [Int.max / 4, 4]) }
    }

    @Test("a scalar has one element and an empty dimension none")
    func shapes() throws {
        #expect(Tensor(floats: [7], shape: []).elementCount == 1)
        let empty = try Tensor(dtype: .f32, shape: [0, 5], bytes: [UInt8]())
        #expect(empty.elementCount == 0 && empty.floats().isEmpty)
    }
}

@Suite("F64 tensors")
struct Float64TensorTests {
    @Test("doubles round-trip bit for bit, and Float conversion rounds to nearest")
    func exactRoundTrip() {
        let values: [Double] = [0, -0.0, 1.0 / 3.0, -1e300, .leastNonzeroMagnitude, .infinity, 0.1 + 0.2, Double(Float.greatestFiniteMagnitude) * 4]
        let tensor = Tensor(doubles: values, shape: [2, 4])
        #expect(tensor.dtype == .f64 && tensor.byteCount == 64)
        #expect(tensor.doubles().map(\.bitPattern) == values.map(\.bitPattern))
        #expect(tensor.floats() == values.map { Float($0) })
        #expect(Tensor(floats: [1.5, -2], shape: [2], dtype: .f64).doubles() == [1.5, -2])
        #expect(Tensor(floats: [1.5, -2], shape: [2], dtype: .bf16).doubles() == [1.5, -2])
    }
}
