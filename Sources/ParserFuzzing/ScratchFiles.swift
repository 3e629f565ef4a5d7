import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A directory of this process's own for targets whose parser reads a path: each input is
/// written over the same few files, so an execution costs a write, not a new directory.
enum ScratchFiles {
    /// `/tmp/calibrate-fuzz-<pid>` (or under `$TMPDIR`), created on first use.
    static let directory: String = {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let path = (base as NSString).appendingPathComponent("calibrate-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// A subdirectory of `directory`, created on first use and emptied of `clearing` names.
    static func subdirectory(_ name: String, clearing names: [String] = []) -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for name in names { try? FileManager.default.removeItem(atPath: (path as NSString).appendingPathComponent(name)) }
        return path
    }

    /// Writes `bytes` to `name` in `folder` (default: `directory`) and returns its path. Plain
    /// `open`/`write` in place: Foundation's atomic write (a temporary file and a rename) would
    /// cost more than most parses.
    @discardableResult
    static func write(_ bytes: some Collection<UInt8>, to name: String, in folder: String = directory) -> String {
        let path = (folder as NSString).appendingPathComponent(name)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { fatalError("parser fuzzing: cannot write the scratch file \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        Array(bytes).withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                guard written > 0 else { fatalError("parser fuzzing: cannot write the scratch file \(path)") }
                offset += written
            }
        }
        return path
    }
}

/// Cutting one fuzz input into the parts a multi-file target needs: a little-endian `UInt16`
/// length, that many bytes (clamped to what is there), then the rest. libFuzzer's mutations
/// change the length as readily as the parts, so both sides of the cut get explored.
struct InputParts {
    let first: ArraySlice<UInt8>
    let rest: ArraySlice<UInt8>

    init(_ input: [UInt8]) {
        guard input.count >= 2 else {
            (first, rest) = (input[...], [])
            return
        }
        let length = min(Int(input[0]) | Int(input[1]) << 8, input.count - 2)
        first = input[2..<(2 + length)]
        rest = input[(2 + length)...]
    }

    /// The input `run` would cut into `first` and `rest` (for seeds).
    static func joined(_ first: [UInt8], _ rest: [UInt8]) -> [UInt8] {
        precondition(first.count <= Int(UInt16.max), "InputParts.joined: the first part has \(first.count) bytes")
        return [UInt8(first.count & 0xFF), UInt8(first.count >> 8)] + first + rest
    }
}
