#if canImport(Glibc)
import Glibc
#endif

/// A whole file mapped read-only into memory. Pages are read from disk when first touched, so
/// mapping a large shard costs nothing until its tensors are used. All calls into the
/// memory-mapping and file APIs of the C library live in this file and in `FileIO.swift`.
public final class MappedFile: Sendable {
    public let path: String
    /// The file's bytes; valid while this object lives.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    // A Sendable-safe spelling of the immutable mapping address.
    private nonisolated(unsafe) let base: UnsafeRawPointer?
    private let count: Int

    /// Maps the file at `path` (`open`, `fstat`, `mmap`).
    /// - Throws: `CheckpointError` with code `.io` naming the file and the system's reason.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CheckpointError(.io, file: path, "cannot stat: \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError(.io, file: path, "is not a regular file") }
        count = Int(info.st_size)
        if count == 0 {
            base = nil
            return
        }
        let address = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw CheckpointError(.io, file: path, "cannot map \(count) bytes: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(address)
    }

    /// Tells the kernel that `range` will not be needed soon (`madvise(MADV_DONTNEED)`), which
    /// drops its pages from this process's resident set; a later read maps them in again.
    public func release(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound / page) * page
        let end = min(count, range.upperBound)
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }
}
