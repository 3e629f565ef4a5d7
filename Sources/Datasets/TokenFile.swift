import Foundation

/// Pre-tokenized ids: a JSON array of integers, or a NumPy `.npy` file of integers (int32 as
/// written by `np.save`; int64, uint16 and uint32 are accepted as well). The kind is recognized
/// by content (the `.npy` magic bytes), not by the file name.
public enum TokenFile {
    /// Reads every token id of the file at `path`, flattening a 2-D array row by row.
    /// - Parameter vocabularySize: when given, every id must be below it.
    /// - Throws: `DatasetError` naming the file, the position of a bad value, and what was expected.
    public static func read(_ path: String, vocabularySize: Int? = nil) throws -> [Int32] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetError(file: path, "cannot read the file")
        }
        return try ids(data, file: path, vocabularySize: vocabularySize)
    }

    /// Every token id of a token file's contents, as `read(_:vocabularySize:)`.
    /// - Parameter file: the file's path, for error messages.
    public static func ids(_ data: Data, file path: String, vocabularySize: Int? = nil) throws -> [Int32] {
        let ids = data.starts(with: NPY.magic) ? try NPY.integers(data, file: path) : try parseJSON(data, file: path)
        if let vocabularySize, let index = ids.firstIndex(where: { $0 < 0 || Int($0) >= vocabularySize }) {
            throw DatasetError(file: path, "token \(index) is \(ids[index]), outside the vocabulary [0, \(vocabularySize))")
        }
        return ids
    }

    static func parseJSON(_ data: Data, file: String) throws -> [Int32] {
        guard let object = try? JSONSerialization.jsonObject(with: data) else {
            throw DatasetError(file: file, "is neither a .npy file nor valid JSON; expected a JSON array of token ids or an int32 .npy file")
        }
        guard let array = object as? [Any] else {
            throw DatasetError(file: file, "JSON must be an array of token ids, found \(type(of: object))")
        }
        var ids: [Int32] = []
        ids.reserveCapacity(array.count)
        for (index, item) in array.enumerated() {
            guard let number = item as? NSNumber, String(cString: number.objCType) != "c",
                  let id = Int32(exactly: number.doubleValue), id >= 0 else {
                throw DatasetError(file: file, "element \(index) is \(item), expected a non-negative integer token id")
            }
            ids.append(id)
        }
        return ids
    }
}

/// The NumPy array file format, version 1.0–3.0 (numpy.org, "NEP 1"): magic `\x93NUMPY`, major
/// and minor version bytes, a little-endian header length (2 bytes in 1.0, 4 in 2.0 and 3.0), an
/// ASCII Python dict literal with `descr`, `fortran_order` and `shape`, then the raw data.
enum NPY {
    static let magic = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59])

    static func integers(_ data: Data, file: String) throws -> [Int32] {
        let bytes = [UInt8](data)
        guard bytes.count >= 10 else { throw DatasetError(file: file, ".npy file of \(bytes.count) bytes is truncated") }
        let major = bytes[6]
        let (lengthSize, headerStart): (Int, Int) = major == 1 ? (2, 10) : (4, 12)
        guard major >= 1 && major <= 3, bytes.count >= headerStart else {
            throw DatasetError(file: file, ".npy version \(major).\(bytes[7]) is not supported (expected 1.0 to 3.0)")
        }
        let headerLength = (0..<lengthSize).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        guard headerStart + headerLength <= bytes.count else {
            throw DatasetError(file: file, ".npy header of \(headerLength) bytes runs past the end of the file")
        }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = field("descr", in: header), let shapeText = field("shape", in: header) else {
            throw DatasetError(file: file, ".npy header has no descr or shape: \(header)")
        }
        if field("fortran_order", in: header) == "True" {
            throw DatasetError(file: file, ".npy array is in Fortran order; save it C-contiguous")
        }
        let shape = shapeText.split(whereSeparator: { "(), ".contains($0) }).compactMap { Int($0) }
        // The file's size bounds the element count; a shape whose product overflows (or is
        // negative) cannot describe it, and would trap before the size check below.
        var count = 1
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard size >= 0, !overflow, product <= bytes.count else {
                throw DatasetError(file: file, ".npy shape \(shape) does not fit the file's \(bytes.count) bytes")
            }
            count = product
        }
        let (width, signed): (Int, Bool)
        switch descr {
        case "<i4", "|i4": (width, signed) = (4, true)
        case "<i8", "|i8": (width, signed) = (8, true)
        case "<u4", "|u4": (width, signed) = (4, false)
        case "<u2", "|u2": (width, signed) = (2, false)
        default: throw DatasetError(file: file, ".npy dtype \(descr) is not a token id type; expected int32 (<i4)")
        }
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart == count * width else {
            throw DatasetError(file: file, ".npy shape \(shape) of \(descr) needs \(count * width) bytes, found \(bytes.count - dataStart)")
        }
        var ids: [Int32] = []
        ids.reserveCapacity(count)
        for index in 0..<count {
            var raw: UInt64 = 0
            for byte in 0..<width { raw |= UInt64(bytes[dataStart + index * width + byte]) << (8 * byte) }
            let value: Int64 = signed && width < 8 && raw >> (8 * width - 1) == 1 ? Int64(raw) - (1 << (8 * width)) : Int64(bitPattern: raw)
            guard let id = Int32(exactly: value), id >= 0 else {
                throw DatasetError(file: file, "element \(index) is \(value), expected a non-negative token id")
            }
            ids.append(id)
        }
        return ids
    }

    /// The text of `'key': value` in a dict literal, up to the next top-level comma.
    private static func field(_ key: String, in header: String) -> String? {
        guard let range = header.range(of: "'\(key)':") else { return nil }
        var depth = 0
        var value = ""
        for character in header[range.upperBound...] {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if (character == "," && depth == 0) || character == "}" { break }
            value.append(character)
        }
        return value.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
    }
}
