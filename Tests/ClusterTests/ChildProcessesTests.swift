import Cluster
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("child processes")
struct ChildProcessesTests {
    @Test("a spawned child inherits no descriptor but the standard three: a pipe held open here is closed there")
    func noInheritedDescriptors() async throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let pid = try ChildProcesses.spawn("/bin/sleep", arguments: ["5"])
        defer {
            ChildProcesses.signal(pid, SIGKILL)
            while !ChildProcesses.hasExited(pid) { usleep(1000) }
        }
        // Right after exec the dynamic loader and the C library's locale set-up briefly open
        // files of their own (libc.so.6, the locale archive) as descriptor 3; what the child
        // inherited stays open for good. So look until the set settles (at most 5 s).
        var descriptors: [Int32] = []
        for _ in 0..<500 {
            descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap(Int32.init).sorted()
            if descriptors.allSatisfy({ $0 <= 2 }) { break }
            usleep(10_000)
        }
        #expect(descriptors.allSatisfy { $0 <= 2 }, "the child holds \(descriptors)")
        #expect(!descriptors.contains(ends[1]))
    }
}
