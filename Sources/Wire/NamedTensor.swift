import Tensors

/// A tensor with its frame name and checksum, as it travels in a message.
///
/// The checksum (XXH64 of the bytes, seed 0) is computed once, when the value is made, so a
/// tensor broadcast to many workers, or echoed back as received, is hashed once.
public struct NamedTensor: Sendable {
    public let name: String
    public let tensor: Tensor
    /// XXH64 (seed 0) of `tensor`'s bytes.
    public let checksum: UInt64

    /// Names `tensor` and computes its checksum (≈ memory speed; see `calibrate-bench wire`).
    public init(_ name: String, _ tensor: Tensor) {
        self.name = name
        self.tensor = tensor
        self.checksum = tensor.withUnsafeBytes { XXH64.hash($0) }
    }

    /// A received tensor whose checksum the decoder has just verified.
    init(name: String, tensor: Tensor, verifiedChecksum: UInt64) {
        self.name = name
        self.tensor = tensor
        self.checksum = verifiedChecksum
    }
}
