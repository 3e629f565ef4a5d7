import Tokenizer

/// Calibration sequences: `samples` windows of `sequenceLength` tokens drawn from a data file.
///
/// The token stream is cut into its `⌊tokens / sequenceLength⌋` non-overlapping windows, starting
/// at token 0; a seeded partial Fisher–Yates shuffle (SplitMix64) picks `samples` distinct
/// windows, returned in stream order. Same file, tokenizer, seed and sizes → same sequences on
/// every machine. No window repeats and none overlaps another, so no tokens are counted twice in
/// the Hessians.
public enum CalibrationData {
    /// The calibration sequences of the file at `path` (token ids, JSON lines or text; see
    /// `DataFile`).
    /// - Parameters:
    ///   - tokenizer: needed for text and JSON lines.
    ///   - samples: number of sequences (`--samples`).
    ///   - sequenceLength: tokens per sequence (`--seq-len`).
    ///   - seed: `--seed`.
    /// - Returns: `samples` arrays of `sequenceLength` ids each.
    /// - Throws: `DatasetError` for unreadable or malformed files, and when the file has fewer
    ///   than `samples × sequenceLength` tokens (saying how many it needs and has).
    public static func load(path: String, tokenizer: Tokenizer?, samples: Int, sequenceLength: Int, seed: UInt64) throws -> [[Int32]] {
        let stream = try DataFile.tokens(path: path, tokenizer: tokenizer)
        return try sample(stream.tokens, samples: samples, sequenceLength: sequenceLength, seed: seed, source: path)
    }

    /// `samples` distinct non-overlapping windows of `tokens`, chosen with `seed`.
    /// - Parameter source: the file name for error messages.
    public static func sample(_ tokens: [Int32], samples: Int, sequenceLength: Int, seed: UInt64, source: String) throws -> [[Int32]] {
        guard samples > 0, sequenceLength > 0 else {
            throw DatasetError(file: source, "calibration needs at least 1 sample of at least 1 token; got \(samples) samples of \(sequenceLength)")
        }
        let windows = tokens.count / sequenceLength
        guard windows >= samples else {
            let (needed, overflow) = samples.multipliedReportingOverflow(by: sequenceLength)
            throw DatasetError(file: source, "\(samples) samples of \(sequenceLength) tokens need \(overflow ? "more than \(Int.max)" : String(needed)) tokens, "
                + "but the file has \(tokens.count) (\(windows) sequences); give more text or fewer/shorter samples")
        }
        var order = Array(0..<windows)
        var generator = SplitMix64(seed: seed)
        for index in 0..<samples {
            let pick = index + Int(generator.next(below: UInt64(windows - index)))
            order.swapAt(index, pick)
        }
        return order[0..<samples].sorted().map { Array(tokens[($0 * sequenceLength)..<(($0 + 1) * sequenceLength)]) }
    }
}

/// Evaluation windows: the token stream cut into consecutive non-overlapping windows of
/// `sequenceLength` tokens from token 0, in order (perplexity as in GPTQ's evaluation and
/// llama.cpp's `perplexity`); the final partial window is dropped.
public enum EvaluationData {
    /// The evaluation windows of the file at `path` (token ids, JSON lines or text).
    /// - Parameters:
    ///   - maxWindows: keep at most this many (the first ones); nil keeps all.
    /// - Throws: `DatasetError` for unreadable or malformed files, or fewer than
    ///   `sequenceLength` tokens.
    public static func windows(path: String, tokenizer: Tokenizer?, sequenceLength: Int, maxWindows: Int? = nil) throws -> [[Int32]] {
        let stream = try DataFile.tokens(path: path, tokenizer: tokenizer)
        return try windows(stream.tokens, sequenceLength: sequenceLength, maxWindows: maxWindows, source: path)
    }

    /// Consecutive windows of `tokens`.
    public static func windows(_ tokens: [Int32], sequenceLength: Int, maxWindows: Int? = nil, source: String) throws -> [[Int32]] {
        guard sequenceLength > 0 else { throw DatasetError(file: source, "evaluation windows need at least 1 token; got \(sequenceLength)") }
        var count = tokens.count / sequenceLength
        guard count > 0 else {
            throw DatasetError(file: source, "one evaluation window of \(sequenceLength) tokens needs \(sequenceLength) tokens, but the file has \(tokens.count)")
        }
        if let maxWindows { count = min(count, max(0, maxWindows)) }
        return (0..<count).map { Array(tokens[($0 * sequenceLength)..<(($0 + 1) * sequenceLength)]) }
    }
}
