import Foundation

/// tokenizer.json's `model` of type BPE: the vocabulary, the merges by rank, and how a piece's
/// first symbols are formed (bytes of the byte-level alphabet, or characters with byte fallback
/// or an unknown token).
struct BytePairModel: Sendable {
    /// Ids are below this: the largest vocabulary calibrate accepts (as `ModelConfig.Limits.vocabulary`).
    /// Ids index arrays as large as the largest id, so an unbounded one (2^31 − 1 fits the JSON)
    /// would allocate gigabytes for one token (found by the `tokenizer-json` fuzz target).
    static let idLimit = 1 << 24

    /// Token string of each id (nil where the vocabulary has a gap).
    let tokens: [String?]
    /// Id of each token string.
    let ids: [String: Int32]
    /// Vocabulary by the bytes a token stands for: raw bytes for a byte-level vocabulary (the
    /// token decoded through the byte-level alphabet), the token's UTF-8 otherwise.
    let vocabulary: ByteStringTable
    let merges: MergeTable
    /// Byte-level: the id of each single byte's token, or -1.
    let byteLevel: Bool
    let byteSymbols: [Int32]
    /// Characters: the ids of the single-character ASCII tokens, or -1.
    let asciiSymbols: [Int32]
    /// `byte_fallback`: the ids of `<0x00>`…`<0xFF>`, −1 for those the vocabulary lacks, else nil.
    let byteFallback: [Int32]?
    let unknownID: Int32?
    let fuseUnknown: Bool
    let ignoreMerges: Bool

    /// Parses a `model` object; `byteLevel` says whether a ByteLevel pre-tokenizer feeds it.
    init(_ json: JSONObject, byteLevel: Bool) throws {
        let type = try json.optionalString("type") ?? "BPE"
        guard type == "BPE" else {
            throw TokenizerError(file: json.file, "\(json.fieldPath("type")): model \"\(type)\" is not supported (only BPE)")
        }
        if let dropout = json.fields["dropout"] as? NSNumber, dropout.doubleValue > 0 {
            throw TokenizerError(file: json.file, "\(json.fieldPath("dropout")): BPE dropout \(dropout) is not supported (it makes encoding random)")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = try json.optionalString(key), !affix.isEmpty {
                throw TokenizerError(file: json.file, "\(json.fieldPath(key)): \"\(affix)\" is not supported (byte-level and SentencePiece BPE use none)")
            }
        }
        guard let vocabularyJSON = json.fields["vocab"] as? [String: Any] else { throw json.error("vocab", "an object of token: id") }

        var tokens: [String?] = []
        var vocabulary = ByteStringTable(minimumCapacity: vocabularyJSON.count)
        var stringIDs: [String: Int32] = [:]
        stringIDs.reserveCapacity(vocabularyJSON.count)
        for (token, value) in vocabularyJSON {
            guard let number = value as? NSNumber, !JSONObject.isBoolean(number), let id = Int32(exactly: number.doubleValue), id >= 0,
                  Int(id) < Self.idLimit else {
                throw TokenizerError(file: json.file, "\(json.fieldPath("vocab")).\"\(token)\": expected an integer id in 0..<\(Self.idLimit), found \(JSONObject.describe(value))")
            }
            if Int(id) >= tokens.count { tokens.append(contentsOf: repeatElement(nil, count: Int(id) + 1 - tokens.count)) }
            tokens[Int(id)] = token
            stringIDs[token] = id
            if byteLevel {
                if let raw = ByteLevelAlphabet.decode(token) { vocabulary.insert(raw, value: id) }
            } else {
                vocabulary.insert(Array(token.utf8), value: id)
            }
        }
        self.tokens = tokens
        self.ids = stringIDs
        self.vocabulary = vocabulary
        self.byteLevel = byteLevel
        self.merges = try Self.parseMerges(json, stringIDs: stringIDs)

        var byteSymbols = [Int32](repeating: -1, count: 256)
        var asciiSymbols = [Int32](repeating: -1, count: 128)
        for byte in 0..<256 {
            if byteLevel {
                byteSymbols[byte] = stringIDs[ByteLevelAlphabet.encode([UInt8(byte)])] ?? -1
            } else if byte < 128 {
                asciiSymbols[byte] = stringIDs[String(Character(Unicode.Scalar(UInt8(byte))))] ?? -1
            }
        }
        self.byteSymbols = byteSymbols
        self.asciiSymbols = asciiSymbols

        if try json.bool("byte_fallback", default: false) {
            // Byte tokens may be missing (transformers writes byte-level vocabularies with the flag
            // set and none of them); `tokenizers` then falls back only where all of a character's
            // bytes have tokens.
            byteFallback = (0..<256).map { byte in
                stringIDs["<0x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2) + ">"] ?? -1
            }
        } else {
            byteFallback = nil
        }
        if let unknown = try json.optionalString("unk_token") {
            guard let id = stringIDs[unknown] else {
                throw TokenizerError(file: json.file, "\(json.fieldPath("unk_token")): \"\(unknown)\" is not in the vocabulary")
            }
            unknownID = id
        } else {
            unknownID = nil
        }
        fuseUnknown = try json.bool("fuse_unk", default: false)
        ignoreMerges = try json.bool("ignore_merges", default: false)
    }

    /// Merges as `"a b"` strings (the older form) or `["a", "b"]` pairs; rank is the position.
    private static func parseMerges(_ json: JSONObject, stringIDs: [String: Int32]) throws -> MergeTable {
        let list = try json.array("merges")
        var table = MergeTable(minimumCapacity: list.count)
        var rank: Int32 = 0
        for (index, entry) in list.enumerated() {
            let left: String, right: String
            if let line = entry as? String {
                if line.hasPrefix("#version") { continue }
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizerError(file: json.file, "\(json.fieldPath("merges"))[\(index)]: expected \"left right\", found \"\(line)\"")
                }
                (left, right) = (String(parts[0]), String(parts[1]))
            } else if let pair = entry as? [Any], pair.count == 2, let a = pair[0] as? String, let b = pair[1] as? String {
                (left, right) = (a, b)
            } else {
                throw TokenizerError(file: json.file, "\(json.fieldPath("merges"))[\(index)]: expected \"left right\" or [\"left\", \"right\"], found \(JSONObject.describe(entry))")
            }
            guard let leftID = stringIDs[left], let rightID = stringIDs[right] else {
                throw TokenizerError(file: json.file, "\(json.fieldPath("merges"))[\(index)]: \"\(stringIDs[left] == nil ? left : right)\" is not in the vocabulary")
            }
            guard let mergedID = stringIDs[left + right] else {
                throw TokenizerError(file: json.file, "\(json.fieldPath("merges"))[\(index)]: the merged token \"\(left + right)\" is not in the vocabulary")
            }
            table.insert(leftID, rightID, rank: rank, merged: mergedID)
            rank += 1
        }
        return table
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
