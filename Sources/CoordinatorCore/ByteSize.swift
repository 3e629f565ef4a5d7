/// Parses human byte sizes such as `5GB`, `500MB`, `1.5GiB`, `4096`.
///
/// Decimal units (KB, MB, GB, TB) are powers of 1000 and binary units (KiB, MiB, GiB, TiB) powers
/// of 1024, as transformers' `max_shard_size` reads them.
public enum ByteSize {
    /// The number of bytes `text` denotes.
    /// - Throws: `JobError` when the text is not a positive size.
    public static func parse(_ text: String) throws -> Int {
        let trimmed = text.trimmingWhitespace().uppercased()
        let units: [(String, Double)] = [
            ("KIB", 1024), ("MIB", 1024 * 1024), ("GIB", 1024 * 1024 * 1024), ("TIB", 1024 * 1024 * 1024 * 1024),
            ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1),
        ]
        var number = trimmed
        var scale = 1.0
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            number = String(trimmed.dropLast(suffix.count)).trimmingWhitespace()
            scale = factor
            break
        }
        guard let value = Double(number), value > 0, value.isFinite, value * scale >= 1, value * scale < 9e18 else {
            throw JobError("size \"\(text)\" is not a positive size such as 5GB, 500MB or 1GiB")
        }
        return Int(value * scale)
    }

    /// The bytes per second `text` denotes: a size per second (`1.2GB/s`, `500MB`; the `/s` may
    /// be left out) or a bit rate (`25Gbit`, `100Mbit/s`, decimal: 1 Gbit = 10⁹ bits).
    /// - Throws: `JobError` when the text is neither.
    public static func parseRate(_ text: String) throws -> Double {
        var trimmed = text.trimmingWhitespace()
        if trimmed.lowercased().hasSuffix("/s") { trimmed = String(trimmed.dropLast(2)) }
        let bits: [(String, Double)] = [("tbit", 1e12), ("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1)]
        for (suffix, factor) in bits where trimmed.lowercased().hasSuffix(suffix) {
            guard let value = Double(String(trimmed.dropLast(suffix.count)).trimmingWhitespace()), value > 0, value.isFinite else { break }
            return value * factor / 8
        }
        do { return Double(try parse(trimmed)) } catch {
            throw JobError("rate \"\(text)\" is not a rate such as 25Gbit, 100Mbit/s or 1.2GB/s")
        }
    }

    /// `bytes` in the largest decimal unit that keeps the number ≥ 1 (e.g. `1.23 GB`).
    public static func describe(_ bytes: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        return "\((value * 100).rounded() / 100) \(units[unit])"
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
