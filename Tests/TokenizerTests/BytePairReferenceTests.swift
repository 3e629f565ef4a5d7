import Foundation
import Testing
@testable import Tokenizer
import TestSupport

/// The heap-based merge loop against the obvious definition of BPE (OpenAI's GPT-2 encoder.py
/// `bpe()`: while some adjacent pair has a rank, merge every occurrence of the lowest-ranked pair,
/// left to right), written here over token strings with the SmolLM2 merges.
@Suite("byte-pair merges against a slow reference")
struct BytePairReferenceTests {
    /// encoder.py's `bpe()` on the byte-level spelling of `bytes`. Bytes without a token of their
    /// own are dropped first, as the tokenizers library does for a BPE without an unknown token
    /// (SmolLM2's vocabulary lacks a few control bytes).
    static func referenceBPE(_ bytes: [UInt8], ranks: [String: Int], vocabulary: Set<String>) -> [String] {
        var word = bytes.map { ByteLevelAlphabet.encode([$0]) }.filter(vocabulary.contains)
        while word.count > 1 {
            var best: (rank: Int, first: String, second: String)? = nil
            for index in 0..<(word.count - 1) {
                if let rank = ranks[word[index] + " " + word[index + 1]], rank < best?.rank ?? Int.max {
                    best = (rank, word[index], word[index + 1])
                }
            }
            guard let best else { break }
            var merged: [String] = []
            var index = 0
            while index < word.count {
                if index + 1 < word.count && word[index] == best.first && word[index + 1] == best.second {
                    merged.append(best.first + best.second)
                    index += 2
                } else {
                    merged.append(word[index])
                    index += 1
                }
            }
            word = merged
        }
        return word
    }

    @Test("same tokens as the reference on words, long runs and random bytes")
    func matchesReference() throws {
        let json = try JSONSerialization.jsonObject(with: Fixtures.data("tokenizers/smollm2.json")) as! [String: Any]
        let model = json["model"] as! [String: Any]
        var ranks: [String: Int] = [:]
        for (rank, pair) in (model["merges"] as! [[String]]).enumerated() { ranks[pair[0] + " " + pair[1]] = rank }
        let vocabulary = Set((model["vocab"] as! [String: Any]).keys)
        let tokenizer = try Fixtures.tokenizer("smollm2")

        var words: [[UInt8]] = []
        let text = try Fixtures.text("kjv.txt") + Fixtures.text("varied.txt")
        words += text.split(separator: " ").map { Array(" \($0)".utf8) }
        // Long repetitive words make long merge chains and many stale heap entries.
        words += ["a", "ab", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", String(repeating: "the", count: 40), String(repeating: " ", count: 65)].map { Array($0.utf8) }
        var random = SplitMix64(seed: 42)
        let letters = Array("etaoinshrdlucmfwypvbgkqjxz ".utf8)
        for length in [1, 2, 3, 5, 7, 31, 33, 100, 257] {
            for _ in 0..<20 {
                words.append((0..<length).map { _ in letters[Int(random.next() % UInt64(letters.count))] })
                words.append((0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) })
            }
        }

        var encoder = BytePairEncoder()
        for word in words {
            let expected = Self.referenceBPE(word, ranks: ranks, vocabulary: vocabulary)
            var ids: [Int32] = []
            word.withUnsafeBufferPointer { encoder.encode($0, 0..<$0.count, model: tokenizer.model, into: &ids) }
            let found = ids.map { tokenizer.token(forID: $0) ?? "?" }
            #expect(found == expected, "\(word)")
            if found != expected { return }
        }
    }
}
