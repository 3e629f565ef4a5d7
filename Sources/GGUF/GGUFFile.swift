import Checkpoint

/// One tensor of a GGUF file, as its tensor info describes it.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Dimensions as GGUF lists them: innermost (contiguous) first, e.g. [in, out] for a weight.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Offset from the start of the data section.
    public let offset: Int
    public let byteCount: Int

    /// Dimensions outermost first (row-major, as safetensors and Hugging Face list them).
    public var shape: [Int] { dimensions.reversed() }
    public var elementCount: Int { dimensions.reduce(1, *) }
}

/// A GGUF file (ggml-org/ggml docs/gguf.md, versions 2 and 3), memory-mapped and validated on
/// open: header, every metadata value, tensor infos, alignment, and every tensor's bytes inside
/// the data section. Tensors are dequantized to Float on request (`floats(_:)`).
///
/// Layout: magic "GGUF", u32 version, u64 tensor count, u64 metadata count; the metadata
/// (string key, u32 type, value; strings are u64 length + UTF-8 bytes; arrays are u32 element
/// type + u64 count + elements); the tensor infos (string name, u32 dimension count, u64
/// dimensions, u32 ggml type, u64 offset); padding to `general.alignment` (default 32); the data.
public final class GGUFFile: Sendable {
    public let path: String
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Offset of the data section from the start of the file.
    public let dataStart: Int
    private let mapping: MappedFile
    private let index: [String: Int]

    /// Opens and validates the file at `path`.
    /// - Throws: `GGUFError` naming the file and the key or tensor at fault.
    public init(path: String) throws {
        self.path = path
        do {
            mapping = try MappedFile(path: path)
        } catch {
            throw GGUFError(.io, file: path, "\(error)")
        }
        var reader = ByteReader(bytes: mapping.bytes, file: path)
        guard mapping.bytes.count >= 4 else { throw GGUFError(.truncated, file: path, "file has \(mapping.bytes.count) bytes, too few for a GGUF header") }
        let magic = try reader.u32("magic")
        guard magic == 0x4655_4747 else {  // "GGUF" little-endian
            throw GGUFError(.badMagic, file: path, "starts with 0x\(String(magic, radix: 16)), not the GGUF magic \"GGUF\"")
        }
        version = Int(try reader.u32("version"))
        guard version == 2 || version == 3 else {
            throw GGUFError(.unsupportedVersion, file: path, "GGUF version \(version); supported: 2 and 3")
        }
        let tensorCount = try reader.count("tensor count", limit: 1 << 20)
        let metadataCount = try reader.count("metadata count", limit: 1 << 20)
        var metadata: [String: GGUFValue] = [:]
        for _ in 0..<metadataCount {
            // GGUF: a key is ASCII of at most 65535 bytes.
            let key = try reader.string("a metadata key", atMost: 65535)
            let shown = GGUFError.shown(key)
            metadata[key] = try reader.value(typeCode: try reader.u32("the type of \(shown)"), key: shown, depth: 0)
        }
        self.metadata = metadata
        let alignment = metadata["general.alignment"]?.int ?? 32
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw GGUFError(.badMetadata, file: path, "general.alignment is \(alignment); expected a power of two")
        }
        self.alignment = alignment
        var infos: [GGUFTensorInfo] = []
        for _ in 0..<tensorCount { infos.append(try reader.tensorInfo()) }
        dataStart = (reader.offset + alignment - 1) / alignment * alignment
        let dataSize = mapping.bytes.count - min(mapping.bytes.count, dataStart)
        var index: [String: Int] = [:]
        for (position, info) in infos.enumerated() {
            guard index[info.name] == nil else { throw GGUFError(.badTensor, file: path, "tensor \"\(GGUFError.shown(info.name))\" is listed twice") }
            guard info.offset % alignment == 0 else {
                throw GGUFError(.badTensor, file: path, "tensor \"\(GGUFError.shown(info.name))\" starts at data offset \(info.offset), not a multiple of the alignment \(alignment)")
            }
            guard info.offset + info.byteCount <= dataSize else {
                throw GGUFError(.truncated, file: path, "tensor \"\(GGUFError.shown(info.name))\" ends at data offset \(info.offset + info.byteCount) but the data section has \(dataSize) bytes")
            }
            index[info.name] = position
        }
        tensors = infos
        self.index = index
    }

    /// The info of tensor `name`.
    public func info(_ name: String) throws -> GGUFTensorInfo {
        guard let position = index[name] else { throw GGUFError(.badTensor, file: path, "has no tensor \"\(GGUFError.shown(name))\"") }
        return tensors[position]
    }

    /// The raw bytes of tensor `name` (valid while this file object lives).
    public func bytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let info = try info(name)
        let start = dataStart + info.offset
        return UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(start + info.byteCount)])
    }

    /// Tensor `name` dequantized to Float, row-major in `shape` order.
    public func floats(_ name: String) throws -> [Float] {
        let info = try info(name)
        let source = try bytes(name)
        return try withExtendedLifetime(mapping) { () throws(GGUFError) in
            try Dequantize.floats(source, type: info.type, count: info.elementCount, file: path, tensor: name)
        }
    }
}

/// Reads the GGUF header fields with bounds checks; every overrun is a `.truncated` error that
/// names what was being read.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var offset = 0

    init(bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    mutating func take<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let size = MemoryLayout<T>.size
        guard offset + size <= bytes.count else {
            throw GGUFError(.truncated, file: file, "ends at byte \(bytes.count) while reading \(what()) at byte \(offset)")
        }
        defer { offset += size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 { try take(UInt32.self, what()) }

    /// A u64 count, refused beyond `limit` (garbage would otherwise allocate without bound).
    mutating func count(_ what: String, limit: Int) throws -> Int {
        let value = try take(UInt64.self, what)
        guard value <= UInt64(limit) else { throw GGUFError(.badMetadata, file: file, "\(what) is \(value), beyond the limit of \(limit)") }
        return Int(value)
    }

    /// A length-prefixed string; with `limit`, one longer than that is refused before it is read.
    mutating func string(_ what: @autoclosure () -> String, atMost limit: Int? = nil) throws -> String {
        let length = try take(UInt64.self, what())
        if let limit, length > UInt64(limit) {
            throw GGUFError(.badMetadata, file: file, "\(what()) at byte \(offset - 8) claims \(length) bytes; at most \(limit) are allowed")
        }
        guard length <= UInt64(bytes.count - offset) else {
            throw GGUFError(.truncated, file: file, "\(what()) at byte \(offset - 8) claims \(length) bytes; the file has \(bytes.count - offset) left")
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(length))]), as: UTF8.self)
        offset += Int(length)
        return text
    }

    /// - Parameter key: the key as errors show it (`GGUFError.shown`).
    mutating func value(typeCode: UInt32, key: String, depth: Int) throws -> GGUFValue {
        switch typeCode {
        case 0: return .uint8(try take(UInt8.self, key))
        case 1: return .int8(try take(Int8.self, key))
        case 2: return .uint16(try take(UInt16.self, key))
        case 3: return .int16(try take(Int16.self, key))
        case 4: return .uint32(try take(UInt32.self, key))
        case 5: return .int32(try take(Int32.self, key))
        case 6: return .float32(Float(bitPattern: try take(UInt32.self, key)))
        case 7:
            let raw = try take(UInt8.self, key)
            guard raw <= 1 else { throw GGUFError(.badMetadata, file: file, "\(key): a bool must be 0 or 1, found \(raw)") }
            return .bool(raw == 1)
        case 8: return .string(try string(key))
        case 9:
            guard depth < 4 else { throw GGUFError(.badMetadata, file: file, "\(key): arrays nested deeper than 4") }
            let elementType = try u32("the element type of \(key)")
            let count = try take(UInt64.self, "the length of \(key)")
            guard count <= UInt64(bytes.count - offset) else {
                throw GGUFError(.truncated, file: file, "\(key): an array of \(count) elements cannot fit in the \(bytes.count - offset) bytes left")
            }
            var values: [GGUFValue] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<count { values.append(try value(typeCode: elementType, key: key, depth: depth + 1)) }
            return .array(values)
        case 10: return .uint64(try take(UInt64.self, key))
        case 11: return .int64(try take(Int64.self, key))
        case 12: return .float64(Double(bitPattern: try take(UInt64.self, key)))
        default: throw GGUFError(.badMetadata, file: file, "\(key): unknown metadata value type \(typeCode) (known: 0–12)")
        }
    }

    mutating func tensorInfo() throws -> GGUFTensorInfo {
        // ggml's tensor names are at most 63 bytes (GGML_MAX_NAME); 65535 leaves room for others.
        let name = try string("a tensor name", atMost: 65535)
        let shown = GGUFError.shown(name)
        let dimensionCount = Int(try u32("the dimension count of \(shown)"))
        guard (1...4).contains(dimensionCount) else {
            throw GGUFError(.badTensor, file: file, "tensor \"\(shown)\" has \(dimensionCount) dimensions; expected 1 to 4")
        }
        var dimensions: [Int] = []
        var elements = 1
        for _ in 0..<dimensionCount {
            let dimension = try take(UInt64.self, "a dimension of \(shown)")
            guard dimension >= 1, dimension < 1 << 40 else { throw GGUFError(.badTensor, file: file, "tensor \"\(shown)\" has dimension \(dimension)") }
            dimensions.append(Int(dimension))
            let (product, overflow) = elements.multipliedReportingOverflow(by: Int(dimension))
            guard !overflow, product < 1 << 48 else { throw GGUFError(.badTensor, file: file, "tensor \"\(shown)\" is too large: \(dimensions)") }
            elements = product
        }
        let rawType = try u32("the type of \(shown)")
        guard let type = GGMLType(rawValue: rawType) else {
            let known = GGMLType.allCases.map { "\($0.name) (\($0.rawValue))" }.joined(separator: ", ")
            throw GGUFError(.unknownType, file: file, "tensor \"\(shown)\" has ggml type \(rawType), which is not supported; supported: \(known)")
        }
        guard dimensions[0] % type.blockSize == 0 else {
            throw GGUFError(.badTensor, file: file, "tensor \"\(shown)\" rows of \(dimensions[0]) values are not whole \(type.name) blocks of \(type.blockSize)")
        }
        let rawOffset = try take(UInt64.self, "the offset of \(shown)")
        guard rawOffset < 1 << 48 else { throw GGUFError(.badTensor, file: file, "tensor \"\(shown)\" has offset \(rawOffset)") }
        return GGUFTensorInfo(name: name, dimensions: dimensions, type: type, offset: Int(rawOffset),
                              byteCount: elements / type.blockSize * type.blockBytes)
    }
}
