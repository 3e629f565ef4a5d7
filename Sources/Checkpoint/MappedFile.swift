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
        guard let (first, bytes) = pages(of: range) else { return }
        madvise(first, bytes.count, MADV_DONTNEED)
    }

    /// `range` widened to whole pages and cut at the file's end, from the mapping's start: the
    /// address of its first page and its byte range; nil when that is empty.
    private func pages(of range: Range<Int>) -> (UnsafeMutableRawPointer, Range<Int>)? {
        guard let base, !range.isEmpty else { return nil }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (max(0, range.lowerBound) / page) * page
        let end = min(count, range.upperBound)
        guard end > start else { return nil }
        return (UnsafeMutableRawPointer(mutating: base + start), start..<end)
    }

    /// Tells the kernel that `range` will be read soon (`madvise(MADV_WILLNEED)`): it starts
    /// reading those pages into the page cache, so the read overlaps whatever this process does
    /// meanwhile. Nothing becomes resident in this process until touched. The call may wait
    /// while the disk's queue is full: call it off the critical path (`CheckpointWeightSource`
    /// does, on a background queue).
    ///
    /// In pieces of `readAheadPiece`: Linux reads at most max(io_pages, ra_pages) per call — the
    /// device's max_sectors_kb and read_ahead_kb, 8 MiB on this VM's disk — and silently drops
    /// the rest (`MappedFileTests`: 8 MiB of a 16 MiB request in one call).
    public func willNeed(_ range: Range<Int>) {
        guard let (first, bytes) = pages(of: range) else { return }
        for offset in stride(from: 0, to: bytes.count, by: Self.readAheadPiece) {
            madvise(first + offset, min(Self.readAheadPiece, bytes.count - offset), MADV_WILLNEED)
        }
    }

    /// Bytes per read-ahead request: 1 MiB, within the per-call bound of common disks (their
    /// max_sectors_kb is 1280 KiB or more).
    public static let readAheadPiece = 1 << 20

    /// The fraction of `range`'s pages in memory (`mincore`: the page cache, whether or not this
    /// process touched them); 0 for an empty file or range.
    public func residentFraction(_ range: Range<Int>) -> Double {
        guard let (first, bytes) = pages(of: range) else { return 0 }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let count = (bytes.count + page - 1) / page
        var vector = [UInt8](repeating: 0, count: count)
        guard mincore(first, bytes.count, &vector) == 0 else { return 0 }
        return Double(vector.reduce(0) { $0 + Int($1 & 1) }) / Double(count)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }
}
