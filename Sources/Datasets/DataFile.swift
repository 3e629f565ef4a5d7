import Foundation
import Tokenizer

/// What a calibration or evaluation file holds, recognized by content (not by its name).
public enum DataFileKind: String, Sendable, Equatable {
    /// Pre-tokenized ids: a `.npy` file (by its magic bytes) or a JSON array of integers.
    case tokenIDs = "token ids"
    /// JSON lines: the first non-blank line is a JSON object; every line's `text` is a document.
    case jsonLines = "JSON lines"
    /// Anything else: UTF-8 text, tokenized whole.
    case text
}

/// The tokens of a data file as one stream, and where they came from.
public struct TokenStream: Sendable {
    /// Every token of the file, documents joined by the separator.
    public let tokens: [Int32]
    /// What the file was recognized as.
    public let kind: DataFileKind
    /// Documents in a JSON lines file; 1 for text and token ids.
    public let documents: Int
}

/// Reading `--calib` and `eval` inputs into one token stream.
///
/// JSON lines: each document is tokenized on its own (no special tokens) and the documents are
/// concatenated with the separator between them (the tokenizer's EOS by default), so a
/// sequence may span a document boundary, as in GPTQ's and llama.cpp's handling of corpora;
/// short documents need no padding and no document is favoured by its length.
public enum DataFile {
    /// The kind of file `data` is.
    public static func kind(of data: Data) -> DataFileKind {
        if data.starts(with: NPY.magic) { return .tokenIDs }
        guard let first = data.firstIndex(where: { !isWhitespace($0) }) else { return .text }
        if data[first] == UInt8(ascii: "["), (try? JSONSerialization.jsonObject(with: data)) is [Any] { return .tokenIDs }
        if data[first] == UInt8(ascii: "{") {
            let lineEnd = data[first...].firstIndex(of: 0x0A) ?? data.endIndex
            if (try? JSONSerialization.jsonObject(with: data[first..<lineEnd])) is [String: Any] { return .jsonLines }
        }
        return .text
    }

    /// All tokens of the file at `path`.
    /// - Parameters:
    ///   - tokenizer: needed for text and JSON lines; when given, token ids are checked against
    ///     its vocabulary.
    ///   - documentSeparator: put between JSON lines documents; nil uses `tokenizer.eosTokenID`
    ///     (and nothing when the tokenizer knows no EOS).
    /// - Throws: `DatasetError` naming the file (and line) for unreadable files, invalid UTF-8,
    ///   bad JSON lines, ids outside the vocabulary, or text without a tokenizer.
    public static func tokens(path: String, tokenizer: Tokenizer?, documentSeparator: Int32? = nil) throws -> TokenStream {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetError(file: path, "cannot read the file")
        }
        return try tokens(data: data, file: path, tokenizer: tokenizer, documentSeparator: documentSeparator)
    }

    /// All tokens of a data file's contents, as `tokens(path:tokenizer:documentSeparator:)`.
    /// - Parameter file: the file's path, for error messages.
    public static func tokens(data: Data, file path: String, tokenizer: Tokenizer?, documentSeparator: Int32? = nil) throws -> TokenStream {
        let kind = kind(of: data)
        switch kind {
        case .tokenIDs:
            return TokenStream(tokens: try TokenFile.ids(data, file: path, vocabularySize: tokenizer?.vocabularySize), kind: kind, documents: 1)
        case .text:
            let tokenizer = try require(tokenizer, path, kind)
            return TokenStream(tokens: tokenizer.encode(try utf8(data, path)), kind: kind, documents: 1)
        case .jsonLines:
            let tokenizer = try require(tokenizer, path, kind)
            let documents = try jsonLines(data, path)
            let separator = documentSeparator ?? tokenizer.eosTokenID
            var tokens: [Int32] = []
            for (index, ids) in tokenizer.encode(documents).enumerated() {
                if index > 0, let separator { tokens.append(separator) }
                tokens.append(contentsOf: ids)
            }
            return TokenStream(tokens: tokens, kind: kind, documents: documents.count)
        }
    }

    private static func require(_ tokenizer: Tokenizer?, _ path: String, _ kind: DataFileKind) throws -> Tokenizer {
        guard let tokenizer else {
            throw DatasetError(file: path, "holds \(kind.rawValue), which needs a tokenizer (a model directory with tokenizer.json); "
                + "or give token ids (a JSON array or an int32 .npy file)")
        }
        return tokenizer
    }

    /// The `text` field of every non-blank line.
    static func jsonLines(_ data: Data, _ path: String) throws -> [String] {
        var documents: [String] = []
        var lineNumber = 0
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy(isWhitespace) { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw DatasetError(file: path, "line \(lineNumber) is not a JSON object; JSON lines need one {\"text\": …} object per line")
            }
            guard let text = object["text"] as? String else {
                throw DatasetError(file: path, "line \(lineNumber) has no string field \"text\" (found keys \(object.keys.sorted()))")
            }
            documents.append(text)
        }
        return documents
    }

    /// The file as a String, refusing invalid UTF-8 with the offset of the first bad byte.
    static func utf8(_ data: Data, _ path: String) throws -> String {
        if let text = String(data: data, encoding: .utf8) { return text }
        var decoder = UTF8()
        var iterator = data.makeIterator()
        var offset = 0
        while case .scalarValue(let scalar) = decoder.decode(&iterator) { offset += UTF8.width(scalar) }
        throw DatasetError(file: path, "is not valid UTF-8 text (bad byte sequence at byte \(offset)); convert it to UTF-8")
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}
