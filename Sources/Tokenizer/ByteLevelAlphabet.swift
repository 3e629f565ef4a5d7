/// GPT-2's reversible map from bytes to printable characters (`bytes_to_unicode` in OpenAI's
/// encoder.py; `bytes_char` in the tokenizers library): the printable bytes '!'…'~', '¡'…'¬' and
/// '®'…'ÿ' map to the characters of the same code point; the other 68 bytes, in increasing order,
/// map to U+0100, U+0101, … . A byte-level vocabulary is written in these characters, so the space
/// byte 0x20 appears as "Ġ" (U+0120).
enum ByteLevelAlphabet {
    /// The character (scalar value) of each byte.
    static let scalars: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = next
                next += 1
            }
        }
        return table
    }()

    /// The byte of each character of the alphabet, by scalar value (0..<324), or nil.
    static let bytes: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (byte, scalar) in scalars.enumerated() { table[Int(scalar)] = Int16(byte) }
        return table
    }()

    /// The bytes a token of the byte-level alphabet stands for, or nil when a character of it is
    /// not in the alphabet.
    static func decode(_ token: String) -> [UInt8]? {
        var result: [UInt8] = []
        result.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard scalar.value < 324, bytes[Int(scalar.value)] >= 0 else { return nil }
            result.append(UInt8(bytes[Int(scalar.value)]))
        }
        return result
    }

    /// The byte-level spelling of raw bytes.
    static func encode(_ raw: some Sequence<UInt8>) -> String {
        var text = String.UnicodeScalarView()
        for byte in raw { text.append(Unicode.Scalar(scalars[Int(byte)])!) }
        return String(text)
    }
}
