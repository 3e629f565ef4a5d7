import Datasets
import Foundation
import Testing

@Suite("token files")
struct TokenFileTests {
    static func write(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "tokens-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("a JSON array of ids")
    func json() throws {
        #expect(try TokenFile.read(Self.write(Array("[1, 2, 49151]".utf8))) == [1, 2, 49151])
    }

    @Test("int32 and int64 .npy files, 1-D and 2-D")
    func npy() throws {
        let int32 = [7, 0, 300].flatMap { (v: Int32) in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        #expect(try TokenFile.read(Self.write(NPYFile.make(descr: "<i4", shape: "(3,)", data: int32))) == [7, 0, 300])
        let int64 = [1, 2, 3, 4].flatMap { (v: Int64) in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        #expect(try TokenFile.read(Self.write(NPYFile.make(descr: "<i8", shape: "(2, 2)", data: int64))) == [1, 2, 3, 4])
    }

    @Test("bad files name the problem", arguments: [
        (Array("[1, -2]".utf8), "element 1 is -2"),
        (Array("[1, 2.5]".utf8), "element 1 is 2.5"),
        (Array("{\"a\": 1}".utf8), "JSON must be an array"),
        (Array("hello".utf8), "neither a .npy file nor valid JSON"),
        (NPYFile.make(descr: "<f4", shape: "(1,)", data: [0, 0, 0, 0]), ".npy dtype <f4 is not a token id type"),
        (NPYFile.make(descr: "<i4", shape: "(2,)", data: [0, 0, 0, 0]), "needs 8 bytes, found 4"),
    ])
    func bad(bytes: [UInt8], message: String) throws {
        let path = try Self.write(bytes)
        let error = #expect(throws: DatasetError.self) { _ = try TokenFile.read(path) }
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
        #expect(error?.file == path)
    }

    @Test("ids outside the vocabulary are refused with their position")
    func vocabulary() throws {
        let path = try Self.write(Array("[1, 2, 10]".utf8))
        let error = #expect(throws: DatasetError.self) { _ = try TokenFile.read(path, vocabularySize: 10) }
        #expect(error?.description.contains("token 2 is 10, outside the vocabulary [0, 10)") == true)
    }
}

enum NPYFile {
    /// An .npy file as `np.save` writes it (version 1.0, header padded to 64 bytes with a newline).
    static func make(descr: String, shape: String, data: [UInt8]) -> [UInt8] {
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let length = header.utf8.count
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(header.utf8) + data
    }
}
