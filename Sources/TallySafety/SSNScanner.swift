/// Finds US social security numbers written ddd-dd-dddd or ddd dd dddd, with the ranges the SSA never issues left
/// out (area 000, 666 and 900–999, group 00, serial 0000).
enum SSNScanner {
    static func matches(in text: TextBytes) -> [Range<Int>] {
        let bytes = text.bytes
        var found: [Range<Int>] = []
        var offset = 0
        while offset + 11 <= bytes.count {
            // Cheap test first: a digit here and a separator three bytes on.
            let separator = bytes[offset + 3]
            if ASCII.isDigit(bytes[offset]), separator == 0x2D || separator == 0x20,
                let match = number(in: text, at: offset)
            {
                found.append(match)
                offset = match.upperBound
            } else {
                offset += 1
            }
        }
        return found
    }

    private static func number(in text: TextBytes, at start: Int) -> Range<Int>? {
        let bytes = text.bytes
        let separator = bytes[start + 3]
        guard separator == 0x2D || separator == 0x20, bytes[start + 6] == separator else { return nil }
        for offset in [0, 1, 2, 4, 5, 7, 8, 9, 10] where !ASCII.isDigit(bytes[start + offset]) { return nil }
        guard text.isNumberStart(at: start), text.isNumberEnd(at: start + 11) else { return nil }
        func value(_ offsets: Range<Int>) -> Int {
            offsets.reduce(0) { $0 * 10 + ASCII.digitValue(bytes[start + $1]) }
        }
        let area = value(0..<3)
        guard area != 0, area != 666, area < 900, value(4..<6) != 0, value(7..<11) != 0 else { return nil }
        return start..<(start + 11)
    }
}
