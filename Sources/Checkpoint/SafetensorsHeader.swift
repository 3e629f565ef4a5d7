import Foundation
import Tensors

/// Where one tensor lives in a safetensors file.
public struct TensorEntry: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range relative to the start of the data section.
    public let dataOffsets: Range<Int>

    public init(name: String, dtype: DType, shape: [Int], dataOffsets: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataOffsets = dataOffsets
    }

    public var byteCount: Int { dataOffsets.count }
}

/// The parsed and validated header of a safetensors file.
///
/// Layout (github.com/huggingface/safetensors): an unsigned 64-bit little-endian header length N,
/// N bytes of UTF-8 JSON mapping tensor names to `{dtype, shape, data_offsets: [begin, end]}`
/// (offsets relative to the data section, which starts at 8 + N) plus an optional
/// `__metadata__` map of strings, then the data section.
public struct SafetensorsHeader: Sendable {
    /// Largest header accepted, as the reference implementation limits it.
    public static let maximumHeaderLength = 100_000_000

    /// Entries by tensor name.
    public let entries: [String: TensorEntry]
    public let metadata: [String: String]
    /// Offset of the data section from the start of the file (8 + header length).
    public let dataStart: Int

    /// Parses and validates the header at the start of `bytes`, the whole file.
    /// - Parameter file: the file's path, for error messages.
    /// - Throws: `CheckpointError` naming the file (and tensor) for every fault listed in
    ///   `SafetensorsHeader+Validation.swift`.
    public init(parsing bytes: UnsafeRawBufferPointer, file: String) throws {
        guard bytes.count >= 8 else {
            throw CheckpointError(.truncated, file: file, "file has \(bytes.count) bytes, fewer than the 8-byte header length")
        }
        let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(Self.maximumHeaderLength) else {
            throw CheckpointError(.headerTooLong, file: file, "header length \(declared) exceeds the limit of \(Self.maximumHeaderLength) bytes")
        }
        let headerLength = Int(declared)
        guard 8 + headerLength <= bytes.count else {
            throw CheckpointError(.truncated, file: file, "header length \(headerLength) runs past the end of the file (\(bytes.count) bytes, header would end at \(8 + headerLength))")
        }
        let json = Data(bytes[8..<(8 + headerLength)])
        let raw: RawHeader
        do {
            raw = try JSONDecoder().decode(RawHeader.self, from: json)
        } catch let error as DecodingError {
            throw Self.describe(error, file: file)
        } catch {
            throw CheckpointError(.badJSON, file: file, "header is not valid JSON: \(error)")
        }
        dataStart = 8 + headerLength
        metadata = raw.metadata
        var entries: [String: TensorEntry] = [:]
        for (name, value) in raw.entries {
            entries[name] = try Self.validatedEntry(name: name, value, file: file)
        }
        self.entries = entries
        try Self.validateLayout(Array(entries.values), dataSize: bytes.count - dataStart, file: file)
    }

    private static func validatedEntry(name: String, _ raw: RawEntry, file: String) throws -> TensorEntry {
        guard let dtype = DType(rawValue: raw.dtype) else {
            throw CheckpointError(.unknownDType, file: file, tensor: name, "unknown dtype \"\(raw.dtype)\"; expected one of \(DType.supportedNames)")
        }
        guard let shape = Self.sizes(raw.shape) else {
            throw CheckpointError(.badShape, file: file, tensor: name, "shape must be non-negative integers, found \(raw.shape)")
        }
        guard raw.dataOffsets.count == 2, let offsets = Self.sizes(raw.dataOffsets) else {
            throw CheckpointError(.badJSON, file: file, tensor: name, "data_offsets must be two non-negative integers, found \(raw.dataOffsets)")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end else {
            throw CheckpointError(.offsetsOutOfRange, file: file, tensor: name, "data_offsets begin \(begin) is after end \(end)")
        }
        let expected: Int
        do {
            expected = try Tensor.byteCount(dtype: dtype, shape: shape)
        } catch {
            throw CheckpointError(.badShape, file: file, tensor: name, "\(error)")
        }
        guard expected == end - begin else {
            throw CheckpointError(.sizeMismatch, file: file, tensor: name,
                "shape \(shape) of \(dtype.rawValue) needs \(expected) bytes but data_offsets span \(end - begin)")
        }
        return TensorEntry(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// The values as sizes, or nil when one is negative, fractional or beyond 2^53 (where JSON
    /// numbers stop being exact). Parsed as Double because JSONDecoder reports a fraction in an
    /// `Int` field as corrupt data without saying where.
    private static func sizes(_ values: [Double]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard value >= 0, value <= 9_007_199_254_740_992, let size = Int(exactly: value) else { return nil }
            result.append(size)
        }
        return result
    }

    /// Turns a decoding failure into an error naming the tensor (the first key of the path).
    private static func describe(_ error: DecodingError, file: String) -> CheckpointError {
        let (path, detail): ([any CodingKey], String)
        switch error {
        case .typeMismatch(let type, let context): (path, detail) = (context.codingPath, "expected \(type): \(context.debugDescription)")
        case .valueNotFound(let type, let context): (path, detail) = (context.codingPath, "expected \(type), found null")
        case .keyNotFound(let key, let context): (path, detail) = (context.codingPath, "missing field \"\(key.stringValue)\"")
        case .dataCorrupted(let context):
            let underlying = context.underlyingError.map { " (\($0))" } ?? ""
            (path, detail) = (context.codingPath, context.debugDescription + underlying)
        @unknown default: (path, detail) = ([], "\(error)")
        }
        guard let first = path.first else {
            return CheckpointError(.badJSON, file: file, "header is not valid JSON: \(detail)")
        }
        let field = path.dropFirst().map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        let place = field.isEmpty ? "" : "field \(field): "
        if first.stringValue == "__metadata__" {
            return CheckpointError(.badJSON, file: file, "__metadata__ must map strings to strings; \(place)\(detail)")
        }
        return CheckpointError(.badJSON, file: file, tensor: first.stringValue, "malformed entry; \(place)\(detail)")
    }
}

/// The header as JSON holds it, before validation.
struct RawHeader: Decodable {
    var metadata: [String: String] = [:]
    var entries: [(String, RawEntry)] = []

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: NameKey.self)
        for key in container.allKeys {
            if key.stringValue == "__metadata__" {
                metadata = try container.decode([String: String].self, forKey: key)
            } else {
                entries.append((key.stringValue, try container.decode(RawEntry.self, forKey: key)))
            }
        }
    }
}

struct RawEntry: Decodable {
    var dtype: String
    var shape: [Double]
    var dataOffsets: [Double]

    enum CodingKeys: String, CodingKey {
        case dtype, shape
        case dataOffsets = "data_offsets"
    }
}

/// A coding key for arbitrary tensor names.
struct NameKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}
