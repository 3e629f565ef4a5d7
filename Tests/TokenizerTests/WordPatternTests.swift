import Foundation
import Testing
@testable import Tokenizer

/// The hand-written matchers of the GPT-2, Llama-3 and Qwen2 regexes against the regexes
/// themselves (NSRegularExpression), exhaustively over short strings of representative
/// characters. (The goldens compare them with Oniguruma through the tokenizers library.)
@Suite("hand-written pre-tokenizer patterns")
struct WordPatternTests {
    /// One character of each kind the alternatives distinguish: ASCII and accented letters, a
    /// CJK letter, digits (ASCII, Arabic-Indic, a fraction), space, tab, CR, LF, a no-break
    /// space, the apostrophe and contraction letters, punctuation, an emoji.
    static let alphabet: [String] = ["a", "s", "T", "l", "e", "é", "中", "1", "٣", "½", " ", "\t", "\r", "\n", "\u{A0}", "'", ".", "🎉"]

    static func matches(_ pattern: WordPattern, _ text: String) -> [String] {
        var bytes = Array(text.utf8)
        var ranges: [Range<Int>] = []
        bytes.withUnsafeBufferPointer { pattern.matches(in: $0, range: 0..<$0.count, into: &ranges) }
        bytes.append(0)
        return ranges.map { String(decoding: bytes[$0], as: UTF8.self) }
    }

    static func regexMatches(_ regex: NSRegularExpression, _ text: String) -> [String] {
        let string = text as NSString
        return regex.matches(in: text, range: NSRange(location: 0, length: string.length)).map { string.substring(with: $0.range) }
    }

    @Test("equal to the regex on every string of up to 4 characters", arguments: [
        WordPattern.gpt2Source, WordPattern.llama3Source, WordPattern.qwen2Source,
    ])
    func exhaustive(source: String) throws {
        let pattern = try #require(WordPattern(source: source))
        let regex = try NSRegularExpression(pattern: source)
        var strings = [""]
        var checked = 0
        for _ in 1...4 {
            strings = strings.flatMap { prefix in Self.alphabet.map { prefix + $0 } }
            for text in strings {
                let expected = Self.regexMatches(regex, text)
                let found = Self.matches(pattern, text)
                checked += 1
                if expected != found {
                    Issue.record("\(text.debugDescription): regex \(expected), matcher \(found)")
                    return
                }
            }
        }
        #expect(checked == (1...4).reduce(0) { $0 + Int(pow(Double(Self.alphabet.count), Double($1))) })
    }

    @Test("matches tile the text: every byte in exactly one match")
    func tiling() {
        let text = "It's 2024: naïve café — 你好 🎉\r\n\t  x  \u{B}\u{85} END  "
        for kind in [WordPattern.Kind.gpt2, .llama3(digitRun: 3), .llama3(digitRun: 1)] {
            #expect(Self.matches(WordPattern(kind: kind), text).joined() == text)
        }
    }

    /// ICU's `\s` lacks U+000B and U+0085; Oniguruma's (and these matchers') includes them.
    /// This is why known patterns do not go through NSRegularExpression.
    @Test("vertical tab and NEL are whitespace, as in Oniguruma")
    func oniguruma() {
        let gpt2 = WordPattern(kind: .gpt2)
        #expect(Self.matches(gpt2, "a\u{B}\u{B}b") == ["a", "\u{B}", "\u{B}", "b"])
        #expect(Self.matches(gpt2, "x\u{85}y") == ["x", "\u{85}", "y"])
        let llama3 = WordPattern(kind: .llama3(digitRun: 3))
        #expect(Self.matches(llama3, "\u{B}word") == ["\u{B}word"])
        #expect(Self.matches(llama3, "I'M 12345") == ["I", "'M", " ", "123", "45"])
        #expect(Self.matches(llama3, "it'\u{17F}") == ["it", "'\u{17F}"])
    }
}
