/// tokenizer.json's `post_processor`, for a single sequence: the special tokens placed around
/// the encoding when `addSpecialTokens` is true (Llama's BOS, RoBERTa's `<s>…</s>`).
indirect enum PostProcessor: Sendable {
    /// `TemplateProcessing`'s `single` template: literal ids and the sequence ($A) in order;
    /// nil entries stand for the sequence.
    case template([[Int32]?])
    case sequence([PostProcessor])
    /// ByteLevel only adjusts offsets: ids are unchanged.
    case identity

    init(_ json: JSONObject) throws {
        let type = try json.string("type")
        switch type {
        case "TemplateProcessing":
            let specials = try json.object("special_tokens")
            var pieces: [[Int32]?] = []
            for (index, item) in try json.array("single").enumerated() {
                let piece = try JSONObject(item, path: "\(json.fieldPath("single"))[\(index)]", file: json.file)
                if piece.fields["Sequence"] != nil {
                    pieces.append(nil)
                } else {
                    let name = try piece.object("SpecialToken").string("id")
                    let special = try specials.object(name)
                    let ids = try special.array("ids").map { value -> Int32 in
                        guard let id = (value as? Int).flatMap(Int32.init(exactly:)) else { throw special.error("ids", "integer ids") }
                        return id
                    }
                    pieces.append(ids)
                }
            }
            self = .template(pieces)
        case "RobertaProcessing", "BertProcessing":
            func id(_ key: String) throws -> Int32 {
                guard let pair = json.fields[key] as? [Any], pair.count == 2, let id = (pair[1] as? Int).flatMap(Int32.init(exactly:)) else {
                    throw json.error(key, "[token, id]")
                }
                return id
            }
            self = .template([[try id("cls")], nil, [try id("sep")]])
        case "Sequence":
            self = .sequence(try json.objects("processors").map(PostProcessor.init))
        case "ByteLevel":
            self = .identity
        default:
            throw TokenizerError(file: json.file, "\(json.fieldPath("type")): post-processor \"\(type)\" is not supported "
                + "(supported: TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence)")
        }
    }

    func process(_ ids: [Int32]) -> [Int32] {
        switch self {
        case .template(let pieces):
            return pieces.flatMap { $0 ?? ids }
        case .sequence(let processors):
            return processors.reduce(ids) { $1.process($0) }
        case .identity:
            return ids
        }
    }
}
