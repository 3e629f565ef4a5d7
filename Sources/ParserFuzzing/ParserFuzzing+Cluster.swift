import Cluster

extension ParserFuzzing {
    /// A hosts file's text (invalid UTF-8 repaired, as `String(contentsOfFile:)` would refuse it).
    @Sendable public static func hostsFile(_ input: [UInt8]) {
        _ = try? HostsFile.parse(String(decoding: input, as: UTF8.self), path: "hosts")
    }
}
