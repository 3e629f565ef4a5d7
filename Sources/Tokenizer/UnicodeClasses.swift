/// The character classes the pre-tokenizer patterns use, with the semantics of Oniguruma (the
/// regex engine of the `tokenizers` library) in Unicode mode:
///   `\p{L}`  general category L (Lu, Ll, Lt, Lm, Lo)
///   `\p{N}`  general category N (Nd, Nl, No); Rust's `char::is_numeric` is the same set
///   `\s`     the White_Space property: U+0009–U+000D, U+0020, U+0085, U+00A0, U+1680,
///            U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000
/// ICU (and so NSRegularExpression) differs: its `\s` lacks U+000B and U+0085, which is one
/// reason the known patterns are matched by hand (see WordPatterns.swift).
enum CharacterClass: UInt8 {
    case letter, number, whitespace, other
}

/// Classification of Unicode scalars: a table for the Basic Multilingual Plane, built once from
/// the standard library's Unicode properties, and the properties themselves above it.
enum UnicodeClasses {
    /// Class of every BMP scalar (surrogates map to `.other`; they never occur in a String).
    static let basicPlane: [CharacterClass] = (0..<0x10000).map { value in
        guard let scalar = Unicode.Scalar(UInt32(value)) else { return .other }
        return computeClass(scalar)
    }

    static func computeClass(_ scalar: Unicode.Scalar) -> CharacterClass {
        let properties = scalar.properties
        if properties.isWhitespace { return .whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    @inline(__always)
    static func characterClass(_ value: UInt32) -> CharacterClass {
        if value < 0x10000 { return basicPlane.withUnsafeBufferPointer { $0[Int(value)] } }
        return Unicode.Scalar(value).map(computeClass) ?? .other
    }

    /// `\w` of Rust's regex crate (used by the added-token `single_word` rule): Alphabetic, marks,
    /// decimal numbers, connector punctuation and Join_Control.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}

/// UTF-8 decoding over a buffer known to hold valid UTF-8 (it comes from a Swift `String`).
enum UTF8Scalars {
    /// The scalar starting at `index` and its length in bytes.
    @inline(__always)
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (value: UInt32, length: Int) {
        let lead = UInt32(bytes[index])
        if lead < 0x80 { return (lead, 1) }
        if lead < 0xE0 { return ((lead & 0x1F) << 6 | UInt32(bytes[index + 1] & 0x3F), 2) }
        if lead < 0xF0 {
            return ((lead & 0x0F) << 12 | UInt32(bytes[index + 1] & 0x3F) << 6 | UInt32(bytes[index + 2] & 0x3F), 3)
        }
        return ((lead & 0x07) << 18 | UInt32(bytes[index + 1] & 0x3F) << 12
                | UInt32(bytes[index + 2] & 0x3F) << 6 | UInt32(bytes[index + 3] & 0x3F), 4)
    }

    /// The length in bytes of the scalar whose lead byte is `lead`.
    @inline(__always)
    static func length(lead: UInt8) -> Int {
        lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
    }

    /// The start of the scalar that ends at `end` (exclusive).
    @inline(__always)
    static func start(before end: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var index = end - 1
        while index > 0 && bytes[index] & 0xC0 == 0x80 { index -= 1 }
        return index
    }
}
