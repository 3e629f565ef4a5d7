/// tokenizer.json's `pre_tokenizer`, flattened into steps that each turn the current pieces into
/// smaller (or rewritten) pieces, as `PreTokenizedString::split` does in the tokenizers library.
struct PreTokenizer: Sendable {
    enum PrependScheme: String, Sendable {
        case always, first, never
    }

    enum Step: Sendable {
        case split(SplitPattern, SplitBehavior, invert: Bool)
        /// Prepends a space to pieces that lack one; the byte-to-character mapping itself is the
        /// model's business (it encodes raw bytes with the byte-level alphabet).
        case prefixSpace
        /// Replaces spaces with the replacement, prepends it per the scheme, optionally splits
        /// before each replacement (merged with next).
        case metaspace(replacement: [UInt8], prependScheme: PrependScheme, split: Bool)
    }

    let steps: [Step]
    /// Whether a ByteLevel pre-tokenizer is present: the model then works on bytes.
    let byteLevel: Bool

    init(steps: [Step] = [], byteLevel: Bool = false) {
        self.steps = steps
        self.byteLevel = byteLevel
    }

    /// Parses a pre-tokenizer object (a Sequence is flattened).
    init(_ json: JSONObject?) throws {
        guard let json else {
            self.init()
            return
        }
        var steps: [Step] = []
        var byteLevel = false
        try Self.parse(json, into: &steps, byteLevel: &byteLevel)
        self.init(steps: steps, byteLevel: byteLevel)
    }

    private static func parse(_ json: JSONObject, into steps: inout [Step], byteLevel: inout Bool) throws {
        let type = try json.string("type")
        if byteLevel {
            throw TokenizerError(file: json.file, "\(json.path): a \(type) pre-tokenizer after ByteLevel is not supported "
                + "(it would see byte-level characters, not text)")
        }
        switch type {
        case "Sequence":
            for step in try json.objects("pretokenizers") { try parse(step, into: &steps, byteLevel: &byteLevel) }
        case "ByteLevel":
            if try json.bool("add_prefix_space", default: true) { steps.append(.prefixSpace) }
            if try json.bool("use_regex", default: true) { steps.append(.split(.word(WordPattern(kind: .gpt2)), .isolated, invert: false)) }
            byteLevel = true
        case "Split":
            let pattern: SplitPattern
            switch try ReplacePattern(json.object("pattern")) {
            case .literal(let literal): pattern = .literal(Array(literal.utf8))
            case .regex(let source):
                if let known = WordPattern(source: source) {
                    pattern = .word(known)
                } else {
                    pattern = .regex(try RegexPattern(source, file: json.file, path: json.fieldPath("pattern")))
                }
            }
            let behaviorName = try json.string("behavior")
            guard let behavior = SplitBehavior(rawValue: behaviorName) else { throw json.error("behavior", "one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous") }
            steps.append(.split(pattern, behavior, invert: try json.bool("invert", default: false)))
        case "Digits":
            steps.append(.split(.numeric, try json.bool("individual_digits", default: false) ? .isolated : .contiguous, invert: false))
        case "WhitespaceSplit":
            steps.append(.split(.whitespace, .removed, invert: false))
        case "Metaspace":
            let replacement = try json.string("replacement")
            guard replacement.unicodeScalars.count == 1 else { throw json.error("replacement", "a single character") }
            var scheme = PrependScheme.always
            if let name = try json.optionalString("prepend_scheme") {
                guard let parsed = PrependScheme(rawValue: name) else { throw json.error("prepend_scheme", "always, first or never") }
                scheme = parsed
            }
            // Older files: add_prefix_space false means never prepend.
            if try json.bool("add_prefix_space", default: true) == false { scheme = .never }
            steps.append(.metaspace(replacement: Array(replacement.utf8), prependScheme: scheme, split: try json.bool("split", default: true)))
        default:
            throw TokenizerError(file: json.file, "\(json.fieldPath("type")): pre-tokenizer \"\(type)\" is not supported "
                + "(supported: Sequence, ByteLevel, Split, Digits, WhitespaceSplit, Metaspace)")
        }
    }

    /// Runs every step over `workspace.pieces` of `workspace.buffer`.
    func run(_ workspace: inout PreTokenizerWorkspace) {
        for step in steps {
            switch step {
            case .split(let pattern, let behavior, let invert):
                workspace.split(pattern, behavior: behavior, invert: invert)
            case .prefixSpace:
                workspace.rewrite { piece, buffer, output in
                    if buffer[piece.start] != 0x20 { output.append(0x20) }
                    output.append(contentsOf: buffer[piece.start..<piece.end])
                }
            case .metaspace(let replacement, let scheme, let split):
                workspace.rewrite { piece, buffer, output in
                    // Spaces are replaced first, so a leading space counts as a leading replacement.
                    let startsWithReplacement = buffer[piece.start] == 0x20 || (piece.end - piece.start >= replacement.count
                        && buffer[piece.start..<(piece.start + replacement.count)].elementsEqual(replacement))
                    let prepend = switch scheme {
                    case .always: !startsWithReplacement
                    case .first: !startsWithReplacement && piece.atStart
                    case .never: false
                    }
                    if prepend { output.append(contentsOf: replacement) }
                    for byte in buffer[piece.start..<piece.end] {
                        if byte == 0x20 { output.append(contentsOf: replacement) } else { output.append(byte) }
                    }
                }
                if split { workspace.split(.literal(replacement), behavior: .mergedWithNext, invert: false) }
            }
        }
    }
}

/// Reusable buffers of the pre-tokenizer: the text (rewritten by some steps) and its pieces.
struct PreTokenizerWorkspace {
    var buffer: [UInt8] = []
    var pieces: [Piece] = []
    private var nextPieces: [Piece] = []
    private var nextBuffer: [UInt8] = []
    private var matches: [Range<Int>] = []
    private var parts: [SplitPart] = []

    /// Starts over with `text` as one piece.
    mutating func reset(_ text: UnsafeBufferPointer<UInt8>, atStart: Bool) {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: text)
        pieces.removeAll(keepingCapacity: true)
        if !text.isEmpty { pieces.append(Piece(start: 0, end: text.count, atStart: atStart)) }
    }

    mutating func split(_ pattern: SplitPattern, behavior: SplitBehavior, invert: Bool) {
        nextPieces.removeAll(keepingCapacity: true)
        buffer.withUnsafeBufferPointer { bytes in
            for piece in pieces {
                matches.removeAll(keepingCapacity: true)
                pattern.matches(in: bytes, range: piece.start..<piece.end, into: &matches)
                Splitter.split(piece, matches: matches, behavior: behavior, invert: invert, parts: &parts, into: &nextPieces)
            }
        }
        swap(&pieces, &nextPieces)
    }

    /// Rewrites every piece into a new buffer; `body` appends the piece's new bytes.
    mutating func rewrite(_ body: (Piece, [UInt8], inout [UInt8]) -> Void) {
        nextBuffer.removeAll(keepingCapacity: true)
        for index in pieces.indices {
            let start = nextBuffer.count
            body(pieces[index], buffer, &nextBuffer)
            pieces[index].start = start
            pieces[index].end = nextBuffer.count
        }
        swap(&buffer, &nextBuffer)
    }
}
