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
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap(Int32.init).sorted()
        #expect(descriptors.allSatisfy { $0 <= 2 }, "the child holds \(descriptors)")
        #expect(!descriptors.contains(ends[1]))
    }
}
