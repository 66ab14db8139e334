/// Byte-level helpers shared by the hand-written detectors. The detectors read UTF-8 bytes because every pattern they
/// look for is ASCII; a multi-byte scalar is never an ASCII byte, so a match that starts and ends on ASCII bytes can
/// never split a scalar.
enum ASCII {
    static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    static func isUpper(_ byte: UInt8) -> Bool { byte >= 0x41 && byte <= 0x5A }
    static func isLower(_ byte: UInt8) -> Bool { byte >= 0x61 && byte <= 0x7A }
    static func isLetter(_ byte: UInt8) -> Bool { isUpper(byte) || isLower(byte) }
    static func isAlphanumeric(_ byte: UInt8) -> Bool { isDigit(byte) || isLetter(byte) }
    static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
    }
    static func digitValue(_ byte: UInt8) -> Int { Int(byte) - 0x30 }
    /// Letters, digits, `_` and `-`: the characters of API keys and base64url.
    static func isTokenByte(_ byte: UInt8) -> Bool { isAlphanumeric(byte) || byte == 0x5F || byte == 0x2D }
}

/// A text's UTF-8 bytes, with a way back from byte offsets to `String.Index`.
struct TextBytes {
    let text: String
    let bytes: [UInt8]

    init(_ text: String) {
        self.text = text
        self.bytes = Array(text.utf8)
    }

    var count: Int { bytes.count }

    /// The byte at `offset`, or nil outside the text (so callers can test neighbours without bounds checks).
    subscript(safe offset: Int) -> UInt8? {
        offset >= 0 && offset < bytes.count ? bytes[offset] : nil
    }

    /// Whether the byte at `offset` is an ASCII letter or digit (false outside the text).
    func isAlphanumeric(at offset: Int) -> Bool {
        guard let byte = self[safe: offset] else { return false }
        return ASCII.isAlphanumeric(byte)
    }

    /// Whether the byte at `offset` starts with `literal`.
    func hasPrefix(_ literal: StaticString, at offset: Int) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard offset >= 0, offset + length <= bytes.count else { return false }
        let pointer = literal.utf8Start
        for index in 0..<length where bytes[offset + index] != pointer[index] { return false }
        return true
    }

    /// Byte ranges as ranges of the text's indices. Offsets must lie on scalar boundaries (they do: see `ASCII`).
    func stringRanges(_ ranges: [Range<Int>]) -> [Range<String.Index>] {
        ranges.map { text.utf8Range($0) }
    }
}

extension String {
    /// The range of this string's indices covering UTF-8 bytes `offsets`.
    func utf8Range(_ offsets: Range<Int>) -> Range<String.Index> {
        let lower = utf8.index(utf8.startIndex, offsetBy: offsets.lowerBound)
        let upper = utf8.index(lower, offsetBy: offsets.count)
        return lower..<upper
    }

    /// The UTF-8 byte offsets of a range of this string's indices.
    func utf8Offsets(_ range: Range<String.Index>) -> Range<Int> {
        let lower = utf8.distance(from: utf8.startIndex, to: range.lowerBound)
        return lower..<(lower + utf8.distance(from: range.lowerBound, to: range.upperBound))
    }
}

extension TextBytes {
    /// Whether a number may begin at `offset`: not glued to a letter, digit or `_` before it, and not continuing a
    /// dotted or dashed number (the "4.5" of "1.2.3.4.5", the "6789" of "12-6789").
    func isNumberStart(at offset: Int) -> Bool {
        guard offset > 0 else { return true }
        let previous = bytes[offset - 1]
        if ASCII.isAlphanumeric(previous) || previous == 0x5F { return false }
        if previous == 0x2E || previous == 0x2D, offset >= 2, ASCII.isDigit(bytes[offset - 2]) { return false }
        return true
    }

    /// Whether a number may end just before `offset`: the mirror of `isNumberStart`.
    func isNumberEnd(at offset: Int) -> Bool {
        guard offset < bytes.count else { return true }
        let next = bytes[offset]
        if ASCII.isAlphanumeric(next) || next == 0x5F { return false }
        if next == 0x2E || next == 0x2D, offset + 1 < bytes.count, ASCII.isDigit(bytes[offset + 1]) { return false }
        return true
    }

    /// The end of the run of digits starting at `offset`.
    func digitRunEnd(from offset: Int) -> Int {
        var end = offset
        while end < bytes.count, ASCII.isDigit(bytes[end]) { end += 1 }
        return end
    }
}
