import Foundation
import Yams

extension Recipe {
    /// Applies the fields of the YAML recipe at `path` on top of `self`.
    /// - Throws: `JobError` naming the file and the key for unknown keys and values of the wrong type.
    public mutating func apply(yamlFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JobError("\(path): cannot read the recipe file")
        }
        try apply(yaml: String(decoding: data, as: UTF8.self), file: path)
    }

    /// Applies the fields of a YAML recipe's text.
    public mutating func apply(yaml text: String, file: String) throws {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw JobError("\(file): not valid YAML: \(error)")
        }
        guard let root else { return }
        try Self.checkKeys(root, file: file)
        let loaded = root.any
        guard let fields = loaded as? [String: Any] else {
            throw JobError("\(file): a recipe is a mapping of fields (\(Self.fields.map(\.key).joined(separator: ", ")))")
        }
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            try apply(key: key, value: value, file: file)
        }
    }

    /// Refuses a mapping key that is not a scalar (`{[1, 2]: x}`, `? {a: b}`) anywhere in the
    /// document: Yams constructs every key as a string and traps on any other (found by the
    /// `recipe-yaml` fuzz target), so the tree is checked before it is constructed.
    /// - Throws: `JobError` naming the file and the key's line and column.
    static func checkKeys(_ node: Node, file: String) throws {
        switch node {
        case .mapping(let mapping):
            for (key, value) in mapping {
                guard case .scalar = key else {
                    let place = key.mark.map { ":\($0.line):\($0.column)" } ?? ""
                    let kind = switch key { case .mapping: "a mapping"; case .sequence: "a sequence"; default: "an alias" }
                    throw JobError("\(file)\(place): a recipe's keys are names, found \(kind) as a key")
                }
                try checkKeys(value, file: file)
            }
        case .sequence(let sequence):
            for element in sequence { try checkKeys(element, file: file) }
        case .scalar, .alias:
            return
        }
    }

    /// Sets the field `key` from a YAML value, converted to what its `RecipeField.kind` takes.
    private mutating func apply(key: String, value: Any, file: String) throws {
        guard let field = Self.field(key) else { return try set(key, .text("\(value)"), source: file) }
        let converted: RecipeValue?
        switch field.kind {
        case .integer: converted = (value as? Int).map(RecipeValue.integer)
        case .number: converted = (value as? Double).map(RecipeValue.number) ?? (value as? Int).map(RecipeValue.integer)
        case .flag: converted = (value as? Bool).map(RecipeValue.flag)
        case .choice: converted = (value as? String).map(RecipeValue.text)
        case .list: converted = (value as? [String]).map(RecipeValue.list)
        case .size:
            if let bytes = value as? Int {
                converted = .integer(bytes)
            } else if let text = value as? String {
                converted = .integer(try ByteSize.parse(text))
            } else {
                converted = nil
            }
        }
        guard let converted else { throw JobError("\(file): \(key) must be \(field.expected), found \(value)") }
        try set(key, converted, source: file)
    }
}
