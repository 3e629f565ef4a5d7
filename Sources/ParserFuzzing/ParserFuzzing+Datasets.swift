import Datasets
import Foundation

extension ParserFuzzing {
    /// A calibration or evaluation data file (recognized by content: JSON array or `.npy` of ids,
    /// JSON lines, text) through `SmallTokenizer`, then cut as `--calib` and `eval` cut it.
    @Sendable public static func dataFile(_ input: [UInt8]) {
        let tokenizer = SmallTokenizer.tokenizer
        guard let stream = try? DataFile.tokens(data: Data(input), file: "data", tokenizer: tokenizer) else { return }
        _ = try? CalibrationData.sample(stream.tokens, samples: 2, sequenceLength: 3, seed: 7, source: "data")
        _ = try? EvaluationData.windows(stream.tokens, sequenceLength: 4, maxWindows: 8, source: "data")
    }

    /// A `.npy` token file: the input follows the magic bytes, so every execution reaches the
    /// NumPy header parser.
    @Sendable public static func npy(_ input: [UInt8]) {
        _ = try? TokenFile.ids(Data(npyMagic + input), file: "tokens.npy", vocabularySize: 1 << 20)
    }

    /// `\x93NUMPY`.
    static let npyMagic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
}
