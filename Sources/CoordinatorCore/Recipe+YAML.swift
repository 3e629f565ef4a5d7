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

    /// Refuses what Yams would trap on while constructing values, anywhere in the document
    /// (both found by the `recipe-yaml` fuzz target), so the tree is checked before it is
    /// constructed: a mapping key that is not a scalar (`{[1, 2]: x}`, `? {a: b}`; Yams constructs
    /// every key as a string), and a YAML 1.1 base-60 integer (`1:30`) beyond Int's range (Yams
    /// multiplies without overflow checks). No recipe field takes either.
    /// - Throws: `JobError` naming the file and the node's line and column.
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
        case .scalar(let scalar):
            guard node.tag.description == Tag.Name.int.rawValue, scalar.string.contains(":"), !fitsInt(sexagesimal: scalar.string) else { return }
            let place = node.mark.map { ":\($0.line):\($0.column)" } ?? ""
            throw JobError("\(file)\(place): the base-60 integer \(scalar.string.prefix(40)) is beyond \(Int.max)")
        case .alias:
            return
        }
    }

    /// Whether a base-60 integer (`[-+]d:dd:dd…`, underscores allowed) fits in Int.
    static func fitsInt(sexagesimal text: String) -> Bool {
        var value = 0
        for part in text.drop(while: { $0 == "-" || $0 == "+" }).split(separator: ":", omittingEmptySubsequences: false) {
            guard let digit = Int(part.filter { $0 != "_" }) else { return true }  // Not an int after all: Yams decides.
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 60)
            let (sum, carry) = shifted.addingReportingOverflow(digit)
            if overflow || carry { return false }
            value = sum
        }
        return true
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
