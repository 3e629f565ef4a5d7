import Checkpoint
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("memory-mapped files")
struct MappedFileTests {
    @Test("willNeed reads a range into the page cache in the background, and release does not evict it")
    func readAhead() async throws {
        let directory = try Fixtures.temporaryDirectory("mapped")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/data.bin"
        let size = 32 << 20
        var bytes = [UInt8](repeating: 0, count: size)
        for i in stride(from: 0, to: size, by: 4096) { bytes[i] = UInt8(truncatingIfNeeded: i >> 12) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        // Written back and dropped from the page cache (clean pages go on request).
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        fsync(fd)
        posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        close(fd)
        let file = try MappedFile(path: path)
        let cold = file.residentFraction(0..<size)
        guard cold < 0.5 else {
            // A filesystem whose pages cannot be dropped (tmpfs, some overlays): nothing to see.
            print("MappedFileTests.readAhead: \(Int(cold * 100)) % of a dropped file stays resident on this filesystem; the read-ahead is not observable here")
            return
        }
        // The second half only: the first stays on disk.
        file.willNeed((size / 2)..<size)
        // Until all of it is in, or nothing more came for a second (at most 20 s).
        let deadline = ContinuousClock.now + .seconds(20)
        var last = (fraction: 0.0, at: ContinuousClock.now)
        while ContinuousClock.now < deadline && ContinuousClock.now - last.at < .seconds(1) {
            let fraction = file.residentFraction((size / 2)..<size)
            if fraction >= 0.99 { break }
            if fraction > last.fraction { last = (fraction, .now) }
            try await Task.sleep(for: .milliseconds(10))
        }
        // Read-ahead is best effort (the kernel skips pages it cannot allocate at once: 94 % once
        // under the whole suite); one uncut call would read at most half of it here (8 MiB).
        let warm = file.residentFraction((size / 2)..<size)
        #expect(warm >= 0.75)
        #expect(file.residentFraction(0..<(size / 4)) < 0.5, "the range not asked for was read too")
        // Nothing was touched, and the bytes are the file's.
        #expect(file.bytes[size - 4096] == UInt8(truncatingIfNeeded: (size - 4096) >> 12))
        file.release(0..<size)
        #expect(file.residentFraction((size / 2)..<size) >= warm - 0.01, "MADV_DONTNEED on a file mapping leaves the page cache")
        #expect(file.residentFraction(0..<0) == 0)
    }
}
