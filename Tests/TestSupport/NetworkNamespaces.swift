import Foundation

/// Whether tests can make network namespaces here (root, iproute2, and `ip netns add` allowed):
/// the one check every multi-host test is enabled by.
public enum NetworkNamespaces {
    public static let ip = "/usr/sbin/ip"
    public static let tc = "/usr/sbin/tc"

    /// Why not, or nil when they can (a namespace was made and removed).
    public static let unavailable: String? = {
        guard getuid() == 0 else { return "needs root for ip netns" }
        guard FileManager.default.isExecutableFile(atPath: ip), FileManager.default.isExecutableFile(atPath: tc) else { return "needs iproute2 (ip, tc)" }
        let probe = "calprobe\(getpid() % 100_000)"
        guard ip("netns", "add", probe) else { return "ip netns add fails here (no CAP_SYS_ADMIN / CAP_NET_ADMIN?)" }
        _ = ip("netns", "del", probe)
        return nil
    }()

    private static func ip(_ arguments: String...) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ip)
        process.arguments = arguments
        (process.standardOutput, process.standardError) = (FileHandle.nullDevice, FileHandle.nullDevice)
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}
