/// What a Split-like pre-tokenizer step looks for.
enum SplitPattern: Sendable {
    /// One of the known regexes, matched by hand.
    case word(WordPattern)
    /// Any other regex (NSRegularExpression).
    case regex(RegexPattern)
    /// A literal string; each non-overlapping occurrence is a match (empty: no match).
    case literal([UInt8])
    /// Each numeric scalar (Rust `char::is_numeric`, i.e. \p{N}) is a match of its own.
    case numeric
    /// Each whitespace scalar is a match of its own.
    case whitespace

    func matches(in bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, into output: inout [Range<Int>]) {
        switch self {
        case .word(let pattern):
            pattern.matches(in: bytes, range: range, into: &output)
        case .regex(let regex):
            regex.matches(in: bytes, range: range, into: &output)
        case .literal(let literal):
            guard let first = literal.first else { return }
            var position = range.lowerBound
            while position + literal.count <= range.upperBound {
                if bytes[position] == first && (1..<literal.count).allSatisfy({ bytes[position + $0] == literal[$0] }) {
                    output.append(position..<(position + literal.count))
                    position += literal.count
                } else {
                    position += 1
                }
            }
        case .numeric, .whitespace:
            let wanted: CharacterClass = self.isNumeric ? .number : .whitespace
            var position = range.lowerBound
            while position < range.upperBound {
                let (value, length) = UTF8Scalars.decode(bytes, at: position)
                if UnicodeClasses.characterClass(value) == wanted { output.append(position..<(position + length)) }
                position += length
            }
        }
    }

    private var isNumeric: Bool {
        if case .numeric = self { return true }
        return false
    }
}

/// How matches become pieces (`SplitDelimiterBehavior` of the tokenizers library).
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"
}

/// A stretch of the pre-tokenizer's buffer that the model will encode. `atStart`: it begins at
/// the start of the input text (Metaspace's `prepend_scheme: first` needs to know).
struct Piece {
    var start: Int
    var end: Int
    var atStart: Bool
}

/// A part of a piece as the pattern cut it: a match or the text between matches.
struct SplitPart {
    var start: Int
    var end: Int
    var isMatch: Bool
}

enum Splitter {
    /// Cuts `piece` at `matches` (sorted, non-overlapping, inside the piece) and appends the
    /// resulting non-empty pieces, following `NormalizedString::split` of the tokenizers library.
    static func split(_ piece: Piece, matches: [Range<Int>], behavior: SplitBehavior, invert: Bool,
                      parts: inout [SplitPart], into output: inout [Piece]) {
        parts.removeAll(keepingCapacity: true)
        var previous = piece.start
        for match in matches {
            if previous != match.lowerBound { parts.append(SplitPart(start: previous, end: match.lowerBound, isMatch: invert)) }
            parts.append(SplitPart(start: match.lowerBound, end: match.upperBound, isMatch: !invert))
            previous = match.upperBound
        }
        if previous != piece.end { parts.append(SplitPart(start: previous, end: piece.end, isMatch: invert)) }

        func emit(_ start: Int, _ end: Int) {
            if start < end { output.append(Piece(start: start, end: end, atStart: piece.atStart && start == piece.start)) }
        }
        switch behavior {
        case .isolated:
            for part in parts { emit(part.start, part.end) }
        case .removed:
            for part in parts where !part.isMatch { emit(part.start, part.end) }
        case .contiguous, .mergedWithPrevious:
            // Fold left: a part joins the previous one when both are matches or both are not
            // (contiguous), or when it is a match following a non-match (merged with previous).
            var current: SplitPart? = nil
            var previousMatch = false
            for part in parts {
                let joins = behavior == .contiguous ? part.isMatch == previousMatch : part.isMatch && !previousMatch
                if joins, current != nil {
                    current!.end = part.end
                } else {
                    if let done = current { emit(done.start, done.end) }
                    current = part
                }
                previousMatch = part.isMatch
            }
            if let done = current { emit(done.start, done.end) }
        case .mergedWithNext:
            // Fold right: a match preceding a non-match joins the part after it.
            var reversed: [SplitPart] = []
            var previousMatch = false
            for part in parts.reversed() {
                if part.isMatch && !previousMatch, !reversed.isEmpty {
                    reversed[reversed.count - 1].start = part.start
                } else {
                    reversed.append(part)
                }
                previousMatch = part.isMatch
            }
            for part in reversed.reversed() { emit(part.start, part.end) }
        }
    }
}
