/// Hand-written matchers for the pre-tokenizer regexes real tokenizers use, equivalent to the
/// regex under leftmost-first alternation and `find_iter` (non-overlapping, left to right), as
/// Oniguruma runs them in the `tokenizers` library:
///
///   GPT-2 (the ByteLevel pre-tokenizer's built-in regex; also SmolLM, StarCoder):
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///   Llama 3 (digitRun 3) and Qwen2 (digitRun 1):
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// Every alternative set covers every character (each is a letter, a number, whitespace or
/// other), so the matches tile the text. Why not NSRegularExpression: on Linux it is ICU, whose
/// `\s` lacks U+000B and U+0085 (a different split than the reference), and it runs at ≈13 MB/s
/// against several times that here.
///
/// The backtracking alternatives resolve as follows, for a maximal whitespace run [i, j):
///   `\s+(?!\S)`    j = end of text → the whole run; otherwise the run minus its last scalar
///                  (fails for a run of one scalar followed by a non-space)
///   `\s*[\r\n]+`   up to and including the run's last CR or LF (fails without one)
struct WordPattern: Sendable {
    enum Kind: Sendable, Equatable {
        case gpt2
        case llama3(digitRun: Int)
    }

    let kind: Kind

    static let gpt2Source = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Source = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Source = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The matcher for a regex source, when it is one of the known patterns.
    init?(source: String) {
        switch source {
        case Self.gpt2Source: kind = .gpt2
        case Self.llama3Source: kind = .llama3(digitRun: 3)
        case Self.qwen2Source: kind = .llama3(digitRun: 1)
        default: return nil
        }
    }

    init(kind: Kind) { self.kind = kind }

    /// Appends the matches in `range` of `bytes`, which tile the range.
    func matches(in bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, into output: inout [Range<Int>]) {
        var position = range.lowerBound
        let end = range.upperBound
        while position < end {
            let matchEnd: Int
            switch kind {
            case .gpt2: matchEnd = gpt2Match(bytes, at: position, end: end)
            case .llama3(let digitRun): matchEnd = llama3Match(bytes, at: position, end: end, digitRun: digitRun)
            }
            output.append(position..<matchEnd)
            position = matchEnd
        }
    }

    // MARK: GPT-2

    private func gpt2Match(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, end: Int) -> Int {
        let first = bytes[start]
        if first == UInt8(ascii: "'"), let contraction = contractionEnd(bytes, at: start, end: end, caseInsensitive: false) {
            return contraction
        }
        var position = start
        var characterClass = UnicodeClasses.characterClass(UTF8Scalars.decode(bytes, at: start).value)
        // ` ?` before \p{L}+, \p{N}+ or [^\s\p{L}\p{N}]+: a space followed by a non-space.
        if first == 0x20 && start + 1 < end {
            let nextClass = UnicodeClasses.characterClass(UTF8Scalars.decode(bytes, at: start + 1).value)
            if nextClass != .whitespace {
                position = start + 1
                characterClass = nextClass
            }
        }
        if characterClass != .whitespace {
            return run(of: characterClass, in: bytes, from: position, end: end)
        }
        return whitespaceEnd(bytes, at: start, end: end, newlines: false)
    }

    // MARK: Llama 3 / Qwen2

    private func llama3Match(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, end: Int, digitRun: Int) -> Int {
        let first = bytes[start]
        if first == UInt8(ascii: "'"), let contraction = contractionEnd(bytes, at: start, end: end, caseInsensitive: true) {
            return contraction
        }
        let (value, length) = UTF8Scalars.decode(bytes, at: start)
        let characterClass = UnicodeClasses.characterClass(value)
        switch characterClass {
        case .letter:
            return run(of: .letter, in: bytes, from: start, end: end)
        case .number:
            var position = start
            var count = 0
            while position < end && count < digitRun {
                let (scalar, scalarLength) = UTF8Scalars.decode(bytes, at: position)
                guard UnicodeClasses.characterClass(scalar) == .number else { break }
                position += scalarLength
                count += 1
            }
            return position
        case .whitespace, .other:
            // [^\r\n\p{L}\p{N}]?\p{L}+
            let next = start + length
            if first != 0x0A && first != 0x0D && next < end {
                let (nextValue, _) = UTF8Scalars.decode(bytes, at: next)
                if UnicodeClasses.characterClass(nextValue) == .letter {
                    return run(of: .letter, in: bytes, from: next, end: end)
                }
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            var othersStart: Int? = characterClass == .other ? start : nil
            if first == 0x20 && next < end {
                let (nextValue, _) = UTF8Scalars.decode(bytes, at: next)
                if UnicodeClasses.characterClass(nextValue) == .other { othersStart = next }
            }
            if let othersStart {
                var position = run(of: .other, in: bytes, from: othersStart, end: end)
                while position < end && (bytes[position] == 0x0A || bytes[position] == 0x0D) { position += 1 }
                return position
            }
            return whitespaceEnd(bytes, at: start, end: end, newlines: true)
        }
    }

    // MARK: Shared pieces

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `start` (which holds an apostrophe), optionally ignoring case
    /// as Oniguruma does: `s` also matches U+017F LATIN SMALL LETTER LONG S, whose case fold is `s`.
    private func contractionEnd(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, end: Int, caseInsensitive: Bool) -> Int? {
        let remaining = end - start - 1
        guard remaining >= 1 else { return nil }
        func fold(_ byte: UInt8) -> UInt8 { caseInsensitive && byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }
        let c1 = fold(bytes[start + 1])
        switch c1 {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
            return start + 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"), UInt8(ascii: "l"):
            guard remaining >= 2 else { return nil }
            let c2 = fold(bytes[start + 2])
            let expected: UInt8 = c1 == UInt8(ascii: "l") ? UInt8(ascii: "l") : UInt8(ascii: "e")
            return c2 == expected ? start + 3 : nil
        case 0xC5 where caseInsensitive && remaining >= 2 && bytes[start + 2] == 0xBF:  // U+017F
            return start + 3
        default:
            return nil
        }
    }

    /// The end of the run of scalars of `characterClass` starting at `start`.
    @inline(__always)
    private func run(of characterClass: CharacterClass, in bytes: UnsafeBufferPointer<UInt8>, from start: Int, end: Int) -> Int {
        var position = start
        while position < end {
            let (value, length) = UTF8Scalars.decode(bytes, at: position)
            guard UnicodeClasses.characterClass(value) == characterClass else { break }
            position += length
        }
        return position
    }

    /// The whitespace alternatives at `start` (a whitespace scalar): `\s*[\r\n]+` when `newlines`,
    /// then `\s+(?!\S)`, then `\s+`.
    private func whitespaceEnd(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, end: Int, newlines: Bool) -> Int {
        var position = start
        var lastStart = start
        var scalars = 0
        var afterLastNewline: Int? = nil
        while position < end {
            let (value, length) = UTF8Scalars.decode(bytes, at: position)
            guard UnicodeClasses.characterClass(value) == .whitespace else { break }
            if value == 0x0A || value == 0x0D { afterLastNewline = position + length }
            lastStart = position
            position += length
            scalars += 1
        }
        if newlines, let afterLastNewline { return afterLastNewline }
        if position == end || scalars == 1 { return position }
        return lastStart
    }
}
