import Foundation

/// The process's memory use as Linux reports it in `/proc/self/status`.
public enum ProcessMemory {
    /// Peak resident set size (`VmHWM`) in bytes, or nil where /proc is unavailable.
    public static var peakResidentBytes: Int? { field("VmHWM") }

    /// The machine's physical memory in bytes (cgroup limits not counted).
    public static var physicalBytes: Int { Int(clamping: ProcessInfo.processInfo.physicalMemory) }

    /// Current resident set size (`VmRSS`) in bytes, or nil where /proc is unavailable.
    public static var residentBytes: Int? { field("VmRSS") }

    /// A field of /proc/self/status given in kB ("VmHWM:     12345 kB"), in bytes.
    private static func field(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let number = line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first
            return number.flatMap { Int($0) }.map { $0 * 1024 }
        }
        return nil
    }
}
