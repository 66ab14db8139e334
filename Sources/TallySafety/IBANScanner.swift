/// Finds IBANs: a country code, two check digits and the country's BBAN, at the country's exact length, written
/// solid or in space-separated groups of four, with the ISO 13616 mod-97 check equal to 1. Each candidate reads at
/// most about 42 bytes, so the scan is linear.
enum IBANScanner {
    static func matches(in text: TextBytes) -> [Range<Int>] {
        let bytes = text.bytes
        var found: [Range<Int>] = []
        var offset = 0
        while offset + 4 <= bytes.count {
            // Cheap test first: two capitals and a digit.
            if ASCII.isUpper(bytes[offset]), ASCII.isUpper(bytes[offset + 1]), ASCII.isDigit(bytes[offset + 2]),
                let end = ibanEnd(text, from: offset)
            {
                found.append(offset..<end)
                offset = end
            } else {
                offset += 1
            }
        }
        return found
    }

    /// IBAN lengths by country: SEPA, plus a few common non-SEPA countries.
    static let lengths: [String: Int] = [
        "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "BR": 29, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
        "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GI": 23, "GL": 18, "GR": 27, "HR": 21, "HU": 28,
        "IE": 22, "IL": 23, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18,
        "NO": 15, "PL": 28, "PT": 25, "QA": 29, "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
        "VA": 22,
    ]

    private static func ibanEnd(_ text: TextBytes, from start: Int) -> Int? {
        let bytes = text.bytes
        guard ASCII.isUpper(bytes[start]), ASCII.isUpper(bytes[start + 1]), ASCII.isDigit(bytes[start + 2]),
            ASCII.isDigit(bytes[start + 3]), text.isNumberStart(at: start)
        else { return nil }
        let country = String(decoding: bytes[start..<(start + 2)], as: UTF8.self)
        guard let length = lengths[country] else { return nil }
        var characters: [UInt8] = []
        var offset = start
        var grouped: Bool?  // decided at the first group boundary, then held for the whole number
        while characters.count < length {
            if characters.count > 0, characters.count % 4 == 0 {
                let spaced = text[safe: offset] == 0x20
                if grouped == nil { grouped = spaced }
                if grouped == true {
                    guard spaced else { return nil }
                    offset += 1
                }
            }
            guard let byte = text[safe: offset], ASCII.isUpper(byte) || ASCII.isDigit(byte) else { return nil }
            characters.append(byte)
            offset += 1
        }
        guard text.isNumberEnd(at: offset), mod97(characters) == 1 else { return nil }
        return offset
    }

    /// The IBAN's remainder mod 97: the first four characters moved to the end, letters as 10–35.
    private static func mod97(_ characters: [UInt8]) -> Int {
        var remainder = 0
        for byte in characters[4...] + characters[..<4] {
            if ASCII.isDigit(byte) {
                remainder = (remainder * 10 + ASCII.digitValue(byte)) % 97
            } else {
                remainder = (remainder * 100 + Int(byte) - 0x41 + 10) % 97
            }
        }
        return remainder
    }
}
