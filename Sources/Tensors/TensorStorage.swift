#if canImport(Glibc)
import Glibc
#endif

/// Immutable bytes of a tensor: owned heap memory, or a view into memory owned by something
/// else (a memory-mapped file), kept alive for as long as the storage lives.
///
/// `@unchecked Sendable` because the bytes are never written after `init` returns (every
/// initializer finishes writing before the storage is handed out) and the owner is immutable,
/// so sharing the storage between threads only ever reads.
public final class TensorStorage: @unchecked Sendable {
    /// The bytes. Valid for the lifetime of this object.
    public let bytes: UnsafeRawBufferPointer
    private let owner: AnyObject?
    private let ownsAllocation: Bool

    /// Copies `count` bytes written by `initialize` into a fresh 64-byte aligned allocation.
    /// - Parameters:
    ///   - count: number of bytes.
    ///   - initialize: writes every byte of the buffer it is given.
    public init(count: Int, initializingWith initialize: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        let buffer = UnsafeMutableRawBufferPointer(start: raw, count: count)
        do {
            try initialize(buffer)
        } catch {
            raw.deallocate()
            throw error
        }
        bytes = UnsafeRawBufferPointer(buffer)
        owner = nil
        ownsAllocation = true
    }

    /// A copy of `source`.
    public convenience init(copying source: UnsafeRawBufferPointer) {
        self.init(count: source.count) { destination in
            if let base = source.baseAddress, source.count > 0 {
                destination.baseAddress!.copyMemory(from: base, byteCount: source.count)
            }
        }
    }

    /// A view of `bytes`, which `owner` keeps valid for as long as it is referenced.
    public init(viewing bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        self.bytes = bytes
        self.owner = owner
        ownsAllocation = false
    }

    deinit {
        if ownsAllocation, let base = bytes.baseAddress {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }
}
