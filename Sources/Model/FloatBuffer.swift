/// An owned, 64-byte aligned, zero-initialized Float allocation: the executor's workspaces,
/// allocated once and reused for every layer.
final class FloatBuffer {
    let base: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.size, alignment: 64)
        base = raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
        self.count = count
    }

    var byteCount: Int { count * MemoryLayout<Float>.size }

    deinit { base.deallocate() }
}
