import Foundation

/// tokenizer.json's `normalizer`: rewrites each stretch of text between added tokens before
/// pre-tokenization. The kinds real BPE tokenizers use; others are refused at load time.
indirect enum Normalizer: Sendable {
    case sequence([Normalizer])
    /// Prepends the string to non-empty text (Llama 2: "▁").
    case prepend([UInt8])
    /// Replaces every non-overlapping occurrence, left to right (Llama 2: " " → "▁").
    case replaceLiteral(pattern: [UInt8], content: [UInt8])
    case replaceRegex(RegexPattern, content: String)
    /// Unicode normalization forms (Foundation's canonical and compatibility mappings).
    case nfc, nfd, nfkc, nfkd
    /// Each scalar to its full lowercase mapping (no context: Rust's `char::to_lowercase`).
    case lowercase
    /// Removes leading and/or trailing whitespace.
    case strip(left: Bool, right: Bool)

    /// Parses a normalizer object.
    init(_ json: JSONObject) throws {
        let type = try json.string("type")
        switch type {
        case "Sequence":
            self = .sequence(try json.objects("normalizers").map(Normalizer.init))
        case "Prepend":
            self = .prepend(Array(try json.string("prepend").utf8))
        case "Replace":
            let content = try json.string("content")
            switch try ReplacePattern(json.object("pattern")) {
            case .literal(let pattern): self = .replaceLiteral(pattern: Array(pattern.utf8), content: Array(content.utf8))
            case .regex(let source):
                self = .replaceRegex(try RegexPattern(source, file: json.file, path: json.fieldPath("pattern")), content: content)
            }
        case "NFC": self = .nfc
        case "NFD": self = .nfd
        case "NFKC": self = .nfkc
        case "NFKD": self = .nfkd
        case "Lowercase": self = .lowercase
        case "Strip": self = .strip(left: try json.bool("strip_left", default: true), right: try json.bool("strip_right", default: true))
        default:
            throw TokenizerError(file: json.file, "\(json.fieldPath("type")): normalizer \"\(type)\" is not supported "
                + "(supported: Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip)")
        }
    }

    /// The normalized form of `text` (valid UTF-8 in, valid UTF-8 out).
    func apply(_ text: [UInt8]) -> [UInt8] {
        switch self {
        case .sequence(let normalizers):
            return normalizers.reduce(text) { $1.apply($0) }
        case .prepend(let prefix):
            return text.isEmpty ? text : prefix + text
        case .replaceLiteral(let pattern, let content):
            return Self.replace(pattern, with: content, in: text)
        case .replaceRegex(let regex, let content):
            var matches: [Range<Int>] = []
            text.withUnsafeBufferPointer { regex.matches(in: $0, range: 0..<$0.count, into: &matches) }
            var result: [UInt8] = []
            var last = 0
            for match in matches {
                result.append(contentsOf: text[last..<match.lowerBound])
                result.append(contentsOf: content.utf8)
                last = match.upperBound
            }
            result.append(contentsOf: text[last...])
            return result
        case .nfc: return Array(Self.string(text).precomposedStringWithCanonicalMapping.utf8)
        case .nfd: return Array(Self.string(text).decomposedStringWithCanonicalMapping.utf8)
        case .nfkc: return Array(Self.string(text).precomposedStringWithCompatibilityMapping.utf8)
        case .nfkd: return Array(Self.string(text).decomposedStringWithCompatibilityMapping.utf8)
        case .lowercase:
            var result = String.UnicodeScalarView()
            for scalar in Self.string(text).unicodeScalars { result.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars) }
            return Array(String(result).utf8)
        case .strip(let left, let right):
            var scalars = Substring(Self.string(text)).unicodeScalars
            if left { while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() } }
            if right { while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() } }
            return Array(String(scalars).utf8)
        }
    }

    private static func string(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Byte-wise replacement; on valid UTF-8 a byte match of a whole pattern is a character match.
    static func replace(_ pattern: [UInt8], with content: [UInt8], in text: [UInt8]) -> [UInt8] {
        guard !pattern.isEmpty, text.count >= pattern.count else { return text }
        var result: [UInt8] = []
        result.reserveCapacity(text.count + text.count / 4 * max(0, content.count - pattern.count))
        var index = 0
        let first = pattern[0]
        while index < text.count {
            if text[index] == first && index + pattern.count <= text.count && text[index..<(index + pattern.count)].elementsEqual(pattern) {
                result.append(contentsOf: content)
                index += pattern.count
            } else {
                result.append(text[index])
                index += 1
            }
        }
        return result
    }
}

/// The `pattern` of Replace and Split: `{"String": "…"}` or `{"Regex": "…"}`.
enum ReplacePattern {
    case literal(String)
    case regex(String)

    init(_ json: JSONObject) throws {
        if let literal = json.fields["String"] as? String {
            self = .literal(literal)
        } else if let regex = json.fields["Regex"] as? String {
            self = .regex(regex)
        } else {
            throw TokenizerError(file: json.file, "\(json.path): expected {\"String\": …} or {\"Regex\": …}, found keys \(json.fields.keys.sorted())")
        }
    }
}
