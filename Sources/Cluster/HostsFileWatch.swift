import Foundation
import Synchronization

/// A hosts file a running job keeps reading: `poll()` returns its entries when its contents
/// changed since the last look, or when a re-read was asked for (`requestReread`, SIGHUP in the
/// coordinator), and nil otherwise. The contents are compared, not the modification time, whose
/// resolution can hide a quick edit.
public final class HostsFileWatch: Sendable {
    public let path: String
    private let state: Mutex<(contents: Data?, reread: Bool)>

    /// - Parameter contents: the contents the job started from (nil: read them now).
    public init(path: String, contents: Data? = nil) {
        self.path = path
        state = Mutex((contents ?? FileManager.default.contents(atPath: path), false))
    }

    /// Makes the next `poll` read the file even if it did not change.
    public func requestReread() {
        state.withLock { $0.reread = true }
    }

    /// The file's entries if it changed or a re-read was asked for; nil if neither. A file that
    /// cannot be read or parsed is an error naming it (the job keeps its workers).
    public func poll() -> Result<[WorkerEndpoint], ClusterError>? {
        let now = FileManager.default.contents(atPath: path)
        let changed = state.withLock { state -> Bool in
            defer { (state.contents, state.reread) = (now, false) }
            return state.reread || now != state.contents
        }
        guard changed else { return nil }
        guard let now else { return .failure(ClusterError(.configuration, "cannot read the hosts file \(path)")) }
        do {
            return .success(try HostsFile.parse(String(decoding: now, as: UTF8.self), path: path))
        } catch {
            return .failure(error)
        }
    }
}
