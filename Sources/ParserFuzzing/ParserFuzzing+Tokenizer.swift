import Foundation
import Tokenizer

extension ParserFuzzing {
    /// Text every parsed tokenizer encodes: spaces, digits, punctuation, accents, CJK, an emoji,
    /// and the conventional special tokens.
    static let sampleText = "Hello world, the 1234 théâtre ⟨∑⟩ 日本語 🙂 <s> </s> <|endoftext|>\n\t  end"

    /// A `tokenizer.json`: parsed, then `sampleText` encoded and every resulting id (and the
    /// first ids of the vocabulary) decoded, as calibration and generation use it.
    @Sendable public static func tokenizerJSON(_ input: [UInt8]) {
        guard let tokenizer = try? Tokenizer(json: Data(input), source: "tokenizer.json") else { return }
        exercise(tokenizer)
    }

    /// A `tokenizer_config.json` applied to a fixed tokenizer (`SmallTokenizer`), as
    /// `Tokenizer(contentsOf:)` applies the one beside a model's tokenizer.json.
    @Sendable public static func tokenizerConfig(_ input: [UInt8]) {
        var tokenizer = SmallTokenizer.tokenizer
        guard (try? tokenizer.applyConfig(Data(input), file: "tokenizer_config.json")) != nil else { return }
        exercise(tokenizer)
    }

    static func exercise(_ tokenizer: Tokenizer) {
        let ids = tokenizer.encode(sampleText, addSpecialTokens: true)
        _ = tokenizer.decode(ids)
        _ = tokenizer.decode(ids, skipSpecialTokens: true)
        _ = tokenizer.decode((0..<Int32(min(tokenizer.vocabularySize, 64))).map { $0 })
        _ = tokenizer.encode(["", " ", sampleText])
    }
}
