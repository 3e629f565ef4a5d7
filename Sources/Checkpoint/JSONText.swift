/// JSON text written by hand where key order and layout must be exact (safetensors headers,
/// index files): JSONSerialization neither sorts keys the same way on every platform nor keeps
/// the order we need.
enum JSONText {
    /// `string` as a JSON string literal, escaping quotes, backslashes and control characters.
    static func quoted(_ string: String) -> String {
        var result = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
