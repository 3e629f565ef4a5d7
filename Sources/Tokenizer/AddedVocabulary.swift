/// A token of tokenizer.json's `added_tokens`: matched in the text before pre-tokenization and
/// never split (`<|endoftext|>`, `<s>`, `<|im_start|>`, …).
public struct AddedToken: Sendable, Equatable {
    /// Its id (usually also in the model's vocabulary).
    public let id: Int32
    /// The exact text it matches.
    public let content: String
    /// Skipped by `decode(_:skipSpecialTokens: true)`.
    public let special: Bool
    /// Matched in the normalized text (true) or in the raw text (false).
    public let normalized: Bool
    /// Matches only when not inside a word (Rust regex `\w` on either side).
    public let singleWord: Bool
    /// Absorbs the whitespace on its left / right.
    public let leftStrip: Bool
    public let rightStrip: Bool
}

/// One piece of text after added tokens are taken out: a byte range, and the added token's id
/// when the range is one.
struct Segment {
    var range: Range<Int>
    var addedID: Int32?
}

/// The matcher for added tokens, as `AddedVocabulary::find_matches` of the tokenizers library:
/// leftmost-longest, non-overlapping matches; `single_word` matches are dropped when a word
/// character touches them; `lstrip`/`rstrip` widen a match over adjacent whitespace (not over
/// text an earlier match took).
struct AddedTokenMatcher: Sendable {
    private struct Candidate: Sendable {
        let bytes: [UInt8]
        let token: AddedToken
    }

    /// Candidates by first byte, longest first.
    private let candidates: [[Candidate]]
    let isEmpty: Bool

    init(_ tokens: [AddedToken], content: (AddedToken) -> String) {
        var byFirst = [[Candidate]](repeating: [], count: 256)
        for token in tokens {
            let bytes = Array(content(token).utf8)
            guard let first = bytes.first else { continue }
            byFirst[Int(first)].append(Candidate(bytes: bytes, token: token))
        }
        candidates = byFirst.map { $0.sorted { $0.bytes.count > $1.bytes.count } }
        isEmpty = tokens.isEmpty
    }

    /// Appends the segments of `bytes[range]`: added tokens and the text between them, which
    /// together cover the range (empty text between tokens is left out).
    func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into segments: inout [Segment]) {
        var textStart = range.lowerBound
        var position = range.lowerBound
        let end = range.upperBound
        while position < end {
            guard let candidate = longestMatch(bytes, at: position, end: end) else {
                position += 1
                continue
            }
            var start = position
            var stop = position + candidate.bytes.count
            let token = candidate.token
            if token.singleWord && !(isSingleWord(bytes, range, start: start, stop: stop)) {
                // The reference iterates non-overlapping matches: the search resumes after this one.
                position = stop
                continue
            }
            if token.leftStrip { start = max(leadingWhitespaceStart(bytes, before: start, from: range.lowerBound), textStart) }
            if token.rightStrip { stop = trailingWhitespaceEnd(bytes, after: stop, end: end) }
            if textStart < start { segments.append(Segment(range: textStart..<start, addedID: nil)) }
            segments.append(Segment(range: start..<stop, addedID: token.id))
            textStart = stop
            // The reference resumes after the unwidened match; after an rstrip that can only differ
            // for a token that starts with whitespace, where it would produce overlapping pieces.
            position = stop
        }
        if textStart < end { segments.append(Segment(range: textStart..<end, addedID: nil)) }
    }

    private func longestMatch(_ bytes: UnsafeBufferPointer<UInt8>, at position: Int, end: Int) -> Candidate? {
        let list = candidates[Int(bytes[position])]
        if list.isEmpty { return nil }
        outer: for candidate in list where candidate.bytes.count <= end - position {
            for (offset, byte) in candidate.bytes.enumerated() where bytes[position + offset] != byte { continue outer }
            return candidate
        }
        return nil
    }

    /// `single_word`: no word character (`\w`) directly before or after the match.
    private func isSingleWord(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, start: Int, stop: Int) -> Bool {
        if start > range.lowerBound {
            let before = UTF8Scalars.start(before: start, in: bytes)
            if UnicodeClasses.isWordCharacter(Unicode.Scalar(UTF8Scalars.decode(bytes, at: before).value)!) { return false }
        }
        if stop < range.upperBound {
            if UnicodeClasses.isWordCharacter(Unicode.Scalar(UTF8Scalars.decode(bytes, at: stop).value)!) { return false }
        }
        return true
    }

    /// The start of the whitespace run that ends at `start` (`\s*$`).
    private func leadingWhitespaceStart(_ bytes: UnsafeBufferPointer<UInt8>, before start: Int, from lowerBound: Int) -> Int {
        var position = start
        while position > lowerBound {
            let previous = UTF8Scalars.start(before: position, in: bytes)
            guard UnicodeClasses.characterClass(UTF8Scalars.decode(bytes, at: previous).value) == .whitespace else { break }
            position = previous
        }
        return position
    }

    /// The end of the whitespace run that starts at `stop` (`^\s*`).
    private func trailingWhitespaceEnd(_ bytes: UnsafeBufferPointer<UInt8>, after stop: Int, end: Int) -> Int {
        var position = stop
        while position < end {
            let (value, length) = UTF8Scalars.decode(bytes, at: position)
            guard UnicodeClasses.characterClass(value) == .whitespace else { break }
            position += length
        }
        return position
    }
}
