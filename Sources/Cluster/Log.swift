#if canImport(Glibc)
import Glibc
#endif

/// A minimal logger: leveled lines to a sink (standard error by default; tests capture them).
/// Messages are autoclosures, built only when their level is enabled.
public struct Log: Sendable {
    public enum Level: Int, Sendable, Comparable, CustomStringConvertible {
        case debug, info, warning, error

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }

        public var description: String {
            switch self {
            case .debug: "debug"
            case .info: "info"
            case .warning: "warning"
            case .error: "error"
            }
        }
    }

    /// Lines below this level are not built.
    public var minimumLevel: Level
    private let label: String
    private let sink: @Sendable (Level, String) -> Void

    /// A logger that hands `"label: message"` lines of at least `minimumLevel` to `sink`.
    public init(label: String, minimumLevel: Level = .info, sink: @escaping @Sendable (Level, String) -> Void) {
        self.label = label
        self.minimumLevel = minimumLevel
        self.sink = sink
    }

    /// A logger writing `label: level: message` lines to standard error (one `write` per line, so
    /// lines from several threads or processes do not interleave).
    public static func standardError(label: String, minimumLevel: Level = .info) -> Log {
        Log(label: label, minimumLevel: minimumLevel) { level, line in
            var text = level == .info ? "\(line)\n" : "\(level): \(line)\n"
            text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        }
    }

    /// A logger that drops everything.
    public static let silent = Log(label: "", minimumLevel: .error) { _, _ in }

    /// The same sink under another label.
    public func labeled(_ label: String) -> Log {
        Log(label: label, minimumLevel: minimumLevel, sink: sink)
    }

    public func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level >= minimumLevel else { return }
        sink(level, label.isEmpty ? message() : "\(label): \(message())")
    }

    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }
}
