import Foundation

/// A regex the hand-written matchers do not know, run by Foundation's NSRegularExpression (ICU).
///
/// ICU and Oniguruma (the reference's engine) agree on most syntax, including `\p{L}`, `(?i:…)`
/// and lookahead, but ICU's `\s` lacks U+000B and U+0085; texts with those characters may split
/// differently under an unknown pattern. Known patterns never come here (WordPatterns.swift).
///
/// `@unchecked Sendable`: NSRegularExpression is immutable and documented as thread-safe, and
/// this wrapper exposes no mutation.
final class RegexPattern: @unchecked Sendable {
    let source: String
    private let regex: NSRegularExpression

    init(_ source: String, file: String, path: String) throws {
        self.source = source
        do {
            regex = try NSRegularExpression(pattern: source)
        } catch {
            throw TokenizerError(file: file, "\(path): the regex \(source) does not compile: \(error)")
        }
    }

    /// Appends the byte ranges of the non-overlapping matches in `bytes[range]`, in order.
    func matches(in bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, into output: inout [Range<Int>]) {
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        let utf16Length = text.utf16.count
        for match in regex.matches(in: text, range: NSRange(location: 0, length: utf16Length)) {
            let start = text.utf16.index(text.utf16.startIndex, offsetBy: match.range.location)
            let end = text.utf16.index(start, offsetBy: match.range.length)
            let lower = text.utf8.distance(from: text.utf8.startIndex, to: start)
            let upper = lower + text.utf8.distance(from: start, to: end)
            output.append((range.lowerBound + lower)..<(range.lowerBound + upper))
        }
    }
}
