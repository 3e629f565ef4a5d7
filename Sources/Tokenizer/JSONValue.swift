import Foundation

/// A JSON object from `JSONSerialization` with typed accessors whose errors name the field by its
/// path in the file (`pre_tokenizer.pretokenizers[1].pattern`).
struct JSONObject {
    let fields: [String: Any]
    let path: String
    let file: String

    init(_ value: Any?, path: String, file: String) throws {
        guard let fields = value as? [String: Any] else {
            throw TokenizerError(file: file, "\(path.isEmpty ? "the file" : path): expected a JSON object, found \(JSONObject.describe(value))")
        }
        self.fields = fields
        self.path = path
        self.file = file
    }

    func fieldPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func error(_ key: String, _ expected: String) -> TokenizerError {
        TokenizerError(file: file, "\(fieldPath(key)): expected \(expected), found \(JSONObject.describe(fields[key]))")
    }

    /// Whether the key is absent or JSON null.
    func isNull(_ key: String) -> Bool { fields[key] == nil || fields[key] is NSNull }

    func string(_ key: String) throws -> String {
        guard let value = fields[key] as? String else { throw error(key, "a string") }
        return value
    }

    func optionalString(_ key: String) throws -> String? {
        isNull(key) ? nil : try string(key)
    }

    func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        if isNull(key) { return defaultValue }
        guard let number = fields[key] as? NSNumber, JSONObject.isBoolean(number) else { throw error(key, "true or false") }
        return number.boolValue
    }

    func int(_ key: String) throws -> Int {
        guard let number = fields[key] as? NSNumber, !JSONObject.isBoolean(number),
              let value = Int(exactly: number.doubleValue) else { throw error(key, "an integer") }
        return value
    }

    func object(_ key: String) throws -> JSONObject {
        try JSONObject(fields[key], path: fieldPath(key), file: file)
    }

    func optionalObject(_ key: String) throws -> JSONObject? {
        isNull(key) ? nil : try object(key)
    }

    func array(_ key: String) throws -> [Any] {
        guard let value = fields[key] as? [Any] else { throw error(key, "an array") }
        return value
    }

    /// The elements of an array of objects.
    func objects(_ key: String) throws -> [JSONObject] {
        try array(key).enumerated().map { try JSONObject($1, path: "\(fieldPath(key))[\($0)]", file: file) }
    }

    /// On Linux every JSON number casts to Bool; a real boolean is boxed as a C `char`.
    static func isBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    static func describe(_ value: Any?) -> String {
        switch value {
        case nil: return "nothing"
        case is NSNull: return "null"
        case let string as String: return "the string \"\(string.prefix(60))\""
        case let number as NSNumber: return isBoolean(number) ? "\(number.boolValue)" : "the number \(number)"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        default: return "\(type(of: value!))"
        }
    }
}
