/// tokenizer.json's `decoder`: turns the token strings of ids back into text, each kind as its
/// `decode_chain` in the tokenizers library (a list of strings in, a list out; joined at the end).
indirect enum Decoder: Sendable {
    case sequence([Decoder])
    /// Token characters back to bytes through the byte-level alphabet (a token with a character
    /// outside it keeps its UTF-8); the bytes are decoded as lossy UTF-8 into one string.
    case byteLevel
    case replace(pattern: String, content: String)
    /// Runs of `<0xNN>` tokens become the string their bytes spell, or one U+FFFD per byte when
    /// they are not valid UTF-8.
    case byteFallback
    case fuse
    /// Removes up to `start` leading and `stop` trailing `content` scalars from each token.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    /// The replacement becomes a space, except in the first token unless the scheme is never.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PreTokenizer.PrependScheme)

    init(_ json: JSONObject) throws {
        let type = try json.string("type")
        switch type {
        case "Sequence": self = .sequence(try json.objects("decoders").map(Decoder.init))
        case "ByteLevel": self = .byteLevel
        case "Replace":
            guard case .literal(let pattern) = try ReplacePattern(json.object("pattern")) else {
                throw TokenizerError(file: json.file, "\(json.fieldPath("pattern")): a Replace decoder with a regex is not supported")
            }
            self = .replace(pattern: pattern, content: try json.string("content"))
        case "ByteFallback": self = .byteFallback
        case "Fuse": self = .fuse
        case "Strip":
            let content = try json.string("content")
            guard content.unicodeScalars.count == 1, let character = content.unicodeScalars.first else { throw json.error("content", "a single character") }
            self = .strip(content: character, start: try json.int("start"), stop: try json.int("stop"))
        case "Metaspace":
            let replacement = try json.string("replacement")
            guard replacement.unicodeScalars.count == 1, let character = replacement.unicodeScalars.first else { throw json.error("replacement", "a single character") }
            var scheme = PreTokenizer.PrependScheme.always
            if let name = try json.optionalString("prepend_scheme") {
                guard let parsed = PreTokenizer.PrependScheme(rawValue: name) else { throw json.error("prepend_scheme", "always, first or never") }
                scheme = parsed
            }
            if try json.bool("add_prefix_space", default: true) == false { scheme = .never }
            self = .metaspace(replacement: character, prependScheme: scheme)
        default:
            throw TokenizerError(file: json.file, "\(json.fieldPath("type")): decoder \"\(type)\" is not supported "
                + "(supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace)")
        }
    }

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .sequence(let decoders):
            return decoders.reduce(tokens) { $1.decodeChain($0) }
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens {
                if let raw = ByteLevelAlphabet.decode(token) { bytes.append(contentsOf: raw) } else { bytes.append(contentsOf: token.utf8) }
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case .replace(let pattern, let content):
            let patternBytes = Array(pattern.utf8), contentBytes = Array(content.utf8)
            return tokens.map { String(decoding: Normalizer.replace(patternBytes, with: contentBytes, in: Array($0.utf8)), as: UTF8.self) }
        case .byteFallback:
            return Self.byteFallback(tokens)
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { token in
                let characters = Array(token.unicodeScalars)
                var lower = 0
                while lower < min(start, characters.count) && characters[lower] == content { lower += 1 }
                var upper = characters.count
                var removed = 0
                while removed < stop && upper > lower && characters[upper - 1] == content { upper -= 1; removed += 1 }
                var result = String.UnicodeScalarView()
                result.append(contentsOf: characters[lower..<upper])
                return String(result)
            }
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { index, token in
                var result = String.UnicodeScalarView()
                for character in token.unicodeScalars {
                    if character == replacement {
                        if !(index == 0 && scheme != .never) { result.append(" ") }
                    } else {
                        result.append(character)
                    }
                }
                return String(result)
            }
        }
    }

    private static func byteFallback(_ tokens: [String]) -> [String] {
        var result: [String] = []
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if let text = String(validating: pending, as: UTF8.self) {
                result.append(text)
            } else {
                result.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
            }
            pending.removeAll()
        }
        for token in tokens {
            let utf8 = Array(token.utf8)
            if utf8.count == 6, token.hasPrefix("<0x"), token.hasSuffix(">"),
               let byte = UInt8(String(decoding: utf8[3..<5], as: UTF8.self), radix: 16) {
                pending.append(byte)
            } else {
                flush()
                result.append(token)
            }
        }
        flush()
        return result
    }
}
