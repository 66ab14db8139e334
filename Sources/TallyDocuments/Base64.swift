/// A base64 (RFC 4648) decoder for the fonts compiled in as text (`EmbeddedFonts`): small enough to keep
/// TallyDocuments free of Foundation, and strict, so a damaged literal fails loudly instead of embedding garbage.
enum Base64 {
    /// The bytes `text` encodes; line breaks and spaces are skipped. nil for any other character outside the
    /// alphabet, padding in the middle, or a length that is not a whole number of 4-character groups.
    static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 4 * 3)
        var group: UInt32 = 0
        var count = 0
        var padding = 0
        for byte in text.utf8 {
            let value: UInt32
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(byte - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(byte - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="):
                // Padding only ends the text: at most two, in the last group.
                guard count >= 2, padding < 2 else { return nil }
                padding += 1
                value = 0
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: " "), UInt8(ascii: "\t"): continue
            default: return nil
            }
            guard padding == 0 || byte == UInt8(ascii: "=") else { return nil }
            group = group << 6 | value
            count += 1
            if count == 4 {
                out.append(UInt8(group >> 16))
                if padding < 2 { out.append(UInt8(group >> 8 & 0xFF)) }
                if padding < 1 { out.append(UInt8(group & 0xFF)) }
                group = 0
                count = 0
                if padding > 0 { padding = 3 }  // nothing may follow a padded group
            }
        }
        return count == 0 ? out : nil
    }
}
