/// SentencePiece BPE as a `tokenizers` BPE model.
///
/// A SentencePiece BPE model stores no merges: encoding starts from characters and repeatedly
/// joins the adjacent pair whose concatenation is a piece with the highest score (the leftmost
/// on a tie), falling back to `<0xNN>` byte pieces for characters outside the vocabulary. The same
/// result comes from a rank-ordered merge list holding every split (left, right) of every piece
/// whose halves are pieces too, ordered by the joined piece's score, highest first. This is how
/// `tokenizers`' SentencePieceExtractor and transformers' GGUF converter build their merges.
///
/// Only NORMAL pieces take part, as joined pieces and as halves: SentencePiece never merges into
/// or out of byte, control, unknown, unused or user-defined pieces (the last are matched whole, as
/// added tokens). Pieces whose score ties join in id order; two splits of one piece — which
/// SentencePiece ranks equally — in the order of their halves' ids.
extension GGUFTokenizer {
    struct Merge: Equatable {
        var left: Int
        var right: Int
        var joined: Int
    }

    static func sentencePieceMerges(tokens: [String], scores: [Float], types: [Int]) -> [Merge] {
        var ids: [String: Int] = [:]
        for (id, token) in tokens.enumerated() where types[id] == TokenType.normal && ids[token] == nil {
            ids[token] = id
        }
        var merges: [Merge] = []
        for (joined, token) in tokens.enumerated() where types[joined] == TokenType.normal {
            // Split between code points, not characters: "e\u{301}" splits into "e" and "\u{301}".
            let scalars = token.unicodeScalars
            guard !scalars.isEmpty else { continue }
            var split = scalars.index(after: scalars.startIndex)
            while split < scalars.endIndex {
                if let left = ids[String(scalars[..<split])], let right = ids[String(scalars[split...])] {
                    merges.append(Merge(left: left, right: right, joined: joined))
                }
                split = scalars.index(after: split)
            }
        }
        merges.sort { a, b in
            if scores[a.joined] != scores[b.joined] { return scores[a.joined] > scores[b.joined] }
            if a.joined != b.joined { return a.joined < b.joined }
            return (a.left, a.right) < (b.left, b.right)
        }
        return merges
    }
}
