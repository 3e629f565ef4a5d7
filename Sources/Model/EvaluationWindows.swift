/// Non-overlapping windows of exactly `length` tokens cut from a token stream, as the usual
/// perplexity evaluations do (transformers' recipe with stride = max_length; GPTQ's wikitext2
/// evaluation): window w is tokens [w·L, (w+1)·L); a shorter remainder at the end is dropped.
/// Each window is an independent sequence from position 0 and predicts its tokens 1 … L−1 from
/// their prefixes inside the window, so a window contributes L − 1 predictions.
public struct EvaluationWindows: Sendable {
    public let tokens: [Int32]
    /// Tokens per window (L).
    public let length: Int
    /// Number of windows.
    public let count: Int

    /// - Parameters:
    ///   - maxWindows: use at most this many windows (the first ones).
    /// - Throws: `ModelError.badInput` when `length` < 2 or the tokens do not fill one window.
    public init(tokens: [Int32], length: Int, maxWindows: Int? = nil) throws {
        guard length >= 2 else { throw ModelError(.badInput, "a window needs at least 2 tokens to predict one, got a length of \(length)") }
        guard tokens.count >= length else {
            throw ModelError(.badInput, "\(tokens.count) tokens do not fill one window of \(length)")
        }
        if let maxWindows, maxWindows < 1 { throw ModelError(.badInput, "max windows must be at least 1, got \(maxWindows)") }
        self.tokens = tokens
        self.length = length
        count = min(tokens.count / length, maxWindows ?? Int.max)
    }

    /// Tokens of window `index`.
    public subscript(index: Int) -> ArraySlice<Int32> { tokens[(index * length) ..< ((index + 1) * length)] }

    /// Predicted tokens over all windows: count · (length − 1).
    public var predictedTokens: Int { count * (length - 1) }

    /// Windows `range` as sequences for a runner.
    public func sequences(_ range: Range<Int>) -> [ArraySlice<Int32>] { range.map { self[$0] } }
}
