import Foundation

/// Encoding and decoding.
extension Tokenizer {
    // MARK: Encoding

    /// The ids of `text`.
    /// - Parameter addSpecialTokens: apply the post-processor (e.g. Llama's BOS); off by default,
    ///   since calibration and evaluation text is split into windows after tokenization.
    public func encode(_ text: String, addSpecialTokens: Bool = false) -> [Int32] {
        var session = EncodingSession()
        return encode(text, addSpecialTokens: addSpecialTokens, session: &session)
    }

    /// The ids of each text; the texts share one cache of encoded pieces (faster for many
    /// documents than separate calls).
    public func encode(_ texts: [String], addSpecialTokens: Bool = false) -> [[Int32]] {
        var session = EncodingSession()
        return texts.map { encode($0, addSpecialTokens: addSpecialTokens, session: &session) }
    }

    func encode(_ text: String, addSpecialTokens: Bool, session: inout EncodingSession) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(text.utf8.count / 3)
        var bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { raw in
            var segments: [Segment] = []
            if rawMatcher.isEmpty {
                segments.append(Segment(range: 0..<raw.count, addedID: nil))
            } else {
                rawMatcher.split(raw, 0..<raw.count, into: &segments)
            }
            for segment in segments {
                if let id = segment.addedID {
                    output.append(id)
                    continue
                }
                let atStart = segment.range.lowerBound == 0
                if let normalizer {
                    let normalized = normalizer.apply(Array(raw[segment.range]))
                    normalized.withUnsafeBufferPointer { encodeNormalized($0, 0..<$0.count, atStart: atStart, session: &session, into: &output) }
                } else {
                    encodeNormalized(raw, segment.range, atStart: atStart, session: &session, into: &output)
                }
            }
        }
        bytes.removeAll()
        if addSpecialTokens, let postProcessor { return postProcessor.process(output) }
        return output
    }

    private func encodeNormalized(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, atStart: Bool,
                                  session: inout EncodingSession, into output: inout [Int32]) {
        if normalizedMatcher.isEmpty {
            encodePieces(bytes, range, atStart: atStart, session: &session, into: &output)
            return
        }
        var segments: [Segment] = []
        normalizedMatcher.split(bytes, range, into: &segments)
        for segment in segments {
            if let id = segment.addedID {
                output.append(id)
            } else {
                encodePieces(bytes, segment.range, atStart: atStart && segment.range.lowerBound == range.lowerBound, session: &session, into: &output)
            }
        }
    }

    private func encodePieces(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, atStart: Bool,
                              session: inout EncodingSession, into output: inout [Int32]) {
        if preTokenizer.steps.isEmpty {
            session.encoder.encode(bytes, range, model: model, into: &output)
            return
        }
        session.workspace.reset(UnsafeBufferPointer(rebasing: bytes[range]), atStart: atStart)
        preTokenizer.run(&session.workspace)
        session.workspace.buffer.withUnsafeBufferPointer { buffer in
            for piece in session.workspace.pieces {
                session.encoder.encode(buffer, piece.start..<piece.end, model: model, into: &output)
            }
        }
    }

    // MARK: Decoding

    /// The text of `ids` (ids outside the vocabulary are skipped, as the reference does).
    /// - Parameter skipSpecialTokens: leave out special added tokens (`<s>`, `<|endoftext|>`, …).
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard let token = token(forID: id) else { continue }
            if skipSpecialTokens && specialContents.contains(token) { continue }
            tokens.append(token)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decodeChain(tokens).joined()
    }
}

/// Buffers reused across the pieces of one `encode` call (or one batch).
struct EncodingSession {
    var workspace = PreTokenizerWorkspace()
    var encoder = BytePairEncoder()
}
