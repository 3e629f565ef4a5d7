#if canImport(Glibc)
import Glibc
#endif

/// A file written under a temporary name in its destination directory, then fsynced and renamed
/// into place, so that a crash or a full disk never leaves a partial file under the final name.
///
/// Usage: create, `write` the contents in pieces, then `commit()`. A writer dropped without
/// `commit()` removes its temporary file.
public final class AtomicFile {
    public let path: String
    private let temporaryPath: String
    private var fd: Int32
    private var committed = false

    /// Creates `path + ".partial-<pid>"`, truncating any leftover of an earlier attempt.
    /// - Throws: `CheckpointError.io` naming the file and the system's reason.
    public init(path: String) throws {
        self.path = path
        temporaryPath = path + ".partial-\(getpid())"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CheckpointError(.io, file: path, "cannot create \(temporaryPath): \(Self.reason())") }
    }

    /// Appends `bytes`.
    /// - Throws: `CheckpointError.io`, e.g. "No space left on device", naming the file.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var next = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let written = Glibc.write(fd, next, remaining)
            if written < 0 {
                if errno == EINTR { continue }
                throw CheckpointError(.io, file: path, "writing \(temporaryPath) failed with \(remaining) bytes left: \(Self.reason())")
            }
            remaining -= written
            next += written
        }
    }

    /// Appends the bytes of `array`.
    public func write(_ array: [UInt8]) throws {
        try array.withUnsafeBytes { try write($0) }
    }

    /// Flushes the data to disk, renames the file into place and flushes the directory entry.
    public func commit() throws {
        guard fsync(fd) == 0 else { throw CheckpointError(.io, file: path, "fsync failed: \(Self.reason())") }
        close(fd)
        fd = -1
        guard rename(temporaryPath, path) == 0 else {
            throw CheckpointError(.io, file: path, "cannot rename \(temporaryPath) into place: \(Self.reason())")
        }
        committed = true
        Self.syncDirectory(of: path)
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed { unlink(temporaryPath) }
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let file = try AtomicFile(path: path)
        try file.write(bytes)
        try file.commit()
    }

    /// fsyncs the directory holding `path`, so that a rename survives a crash.
    static func syncDirectory(of path: String) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let dirfd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirfd >= 0 else { return }
        fsync(dirfd)
        close(dirfd)
    }

    private static func reason() -> String { String(cString: strerror(errno)) }
}
