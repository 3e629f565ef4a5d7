import Foundation
import Tensors
@testable import Wire
import TestSupport

enum Fixtures {
    /// `Tests/WireTests/Fixtures/<name>` as copied into the test bundle.
    static func path(_ name: String) -> String {
        Bundle.module.resourcePath! + "/Fixtures/" + name
    }
}

/// A tensor of `dtype` and `shape` with deterministic bytes.
func sampleTensor(_ dtype: DType = .f32, _ shape: [Int], seed: UInt64 = 1) -> Tensor {
    var generator = SplitMix64(seed: seed)
    let count = shape.reduce(dtype.byteSize, *)
    let storage = TensorStorage(count: count) { buffer in
        for i in 0..<count { buffer[i] = UInt8(truncatingIfNeeded: generator.next()) }
    }
    return try! Tensor(dtype: dtype, shape: shape, storage: storage)
}

/// Frame storage holding `bytes`.
func frame(_ bytes: [UInt8]) -> TensorStorage {
    bytes.withUnsafeBytes { TensorStorage(copying: $0) }
}

/// The bytes of a frame.
func bytes(of storage: TensorStorage) -> [UInt8] {
    withExtendedLifetime(storage) { Array(storage.bytes) }
}

/// A minimal protobuf writer, to build envelopes the encoder would never produce (unknown types,
/// missing fields, inconsistent descriptors).
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func field(_ number: UInt64, varint value: UInt64) {
        varint(number << 3)
        varint(value)
    }

    mutating func field(_ number: UInt64, fixed64 value: UInt64) {
        varint(number << 3 | 1)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func field(_ number: UInt64, bytes value: [UInt8]) {
        varint(number << 3 | 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func field(_ number: UInt64, string value: String) {
        field(number, bytes: Array(value.utf8))
    }

    mutating func field(_ number: UInt64, message: ProtoWriter) {
        field(number, bytes: message.bytes)
    }
}
