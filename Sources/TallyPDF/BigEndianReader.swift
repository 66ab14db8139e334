/// Why font bytes were refused: the file is not a TrueType font this writer can embed, or it is damaged.
public struct PDFFontError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
}

/// Big-endian reads over a font file. Every read is bounds-checked and throws, so a truncated or hostile
/// file is refused with an error instead of trapping on an out-of-range index.
struct BigEndianReader: Sendable {
    let bytes: [UInt8]

    /// The bytes `offset ..< offset + count`, or an error naming `what` when they are not all in the file.
    func range(_ offset: Int, count: Int, _ what: String) throws -> Range<Int> {
        // Written so that a huge offset or count cannot overflow: both are compared, never summed unchecked.
        guard offset >= 0, count >= 0, offset <= bytes.count, count <= bytes.count - offset else {
            throw PDFFontError("\(what) lies outside the font file")
        }
        return offset..<(offset + count)
    }

    func u8(_ offset: Int) throws -> UInt8 {
        _ = try range(offset, count: 1, "a byte")
        return bytes[offset]
    }

    func u16(_ offset: Int) throws -> UInt16 {
        _ = try range(offset, count: 2, "a 16-bit field")
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    func i16(_ offset: Int) throws -> Int16 { Int16(bitPattern: try u16(offset)) }

    func u32(_ offset: Int) throws -> UInt32 {
        _ = try range(offset, count: 4, "a 32-bit field")
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    func slice(_ offset: Int, count: Int, _ what: String) throws -> ArraySlice<UInt8> {
        bytes[try range(offset, count: count, what)]
    }
}

/// Big-endian writes, for rebuilding the subset font's tables.
extension Array where Element == UInt8 {
    mutating func appendU16(_ value: UInt16) {
        append(UInt8(value >> 8))
        append(UInt8(value & 0xFF))
    }

    mutating func appendU32(_ value: UInt32) {
        appendU16(UInt16(value >> 16))
        appendU16(UInt16(value & 0xFFFF))
    }

    mutating func setU16(_ value: UInt16, at offset: Int) {
        self[offset] = UInt8(value >> 8)
        self[offset + 1] = UInt8(value & 0xFF)
    }

    mutating func setU32(_ value: UInt32, at offset: Int) {
        setU16(UInt16(value >> 16), at: offset)
        setU16(UInt16(value & 0xFFFF), at: offset + 2)
    }
}
