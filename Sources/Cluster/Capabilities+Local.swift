import Wire

#if canImport(Glibc)
import Glibc
#endif

extension Capabilities {
    /// This machine and process: online cores, physical memory, host name, process id; device "cpu".
    /// - Parameter threads: the compute threads this worker uses.
    public static func local(threads: Int) -> Capabilities {
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let memory = UInt64(max(0, sysconf(Int32(_SC_PHYS_PAGES)))) * UInt64(max(0, sysconf(Int32(_SC_PAGESIZE))))
        var name = [CChar](repeating: 0, count: 256)
        let hostname = gethostname(&name, name.count) == 0
            ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown"
        return Capabilities(cores: cores, memoryBytes: memory, deviceKind: "cpu", threads: threads, hostname: hostname, pid: Int(getpid()))
    }
}
