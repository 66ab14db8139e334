/// Finds IPv4 dotted quads (each part 0–255, not inside a longer dotted number such as the version "1.2.3.4.5") and
/// IPv6 addresses, full or `::`-compressed (at most 8 groups of 1–4 hex digits). To keep C++'s `A::B` and clock
/// times out, an IPv6 address must hold at least one decimal digit and two colons.
enum IPAddressScanner {
    static func matches(in text: TextBytes) -> [Range<Int>] {
        (version4(in: text) + version6(in: text)).sorted { $0.lowerBound < $1.lowerBound }
    }

    private static func version4(in text: TextBytes) -> [Range<Int>] {
        let bytes = text.bytes
        var found: [Range<Int>] = []
        var offset = 0
        while offset < bytes.count {
            guard ASCII.isDigit(bytes[offset]), text.isNumberStart(at: offset) else {
                offset += 1
                continue
            }
            if let end = dottedQuadEnd(text, from: offset) {
                found.append(offset..<end)
                offset = end
            } else {
                offset = text.digitRunEnd(from: offset)
            }
        }
        return found
    }

    private static func dottedQuadEnd(_ text: TextBytes, from start: Int) -> Int? {
        var offset = start
        for part in 0..<4 {
            if part > 0 {
                guard text[safe: offset] == 0x2E else { return nil }
                offset += 1
            }
            let end = text.digitRunEnd(from: offset)
            guard end > offset, end - offset <= 3 else { return nil }
            let value = text.bytes[offset..<end].reduce(0) { $0 * 10 + ASCII.digitValue($1) }
            guard value <= 255 else { return nil }
            offset = end
        }
        return text.isNumberEnd(at: offset) ? offset : nil
    }

    private static func version6(in text: TextBytes) -> [Range<Int>] {
        let bytes = text.bytes
        var found: [Range<Int>] = []
        var offset = 0
        while offset < bytes.count {
            let byte = bytes[offset]
            guard ASCII.isHexDigit(byte) || byte == 0x3A else {
                offset += 1
                continue
            }
            var end = offset
            var colons = 0
            while end < bytes.count, ASCII.isHexDigit(bytes[end]) || bytes[end] == 0x3A {
                if bytes[end] == 0x3A { colons += 1 }
                end += 1
            }
            if colons >= 2, text.isNumberStart(at: offset), text.isNumberEnd(at: end),
                isVersion6(text.bytes[offset..<end])
            {
                found.append(offset..<end)
            }
            offset = end
        }
        return found
    }

    private static func isVersion6(_ run: ArraySlice<UInt8>) -> Bool {
        guard run.count <= 39, run.contains(where: ASCII.isDigit), run.count(where: { $0 == 0x3A }) >= 2 else {
            return false
        }
        // Split on ":" and count the empty pieces: "::" makes one (two at either end, three for "::" alone).
        var groups = 0
        var empties = 0
        var pieceLength = 0
        var pieces = 0
        for byte in run + [0x3A] {
            guard byte == 0x3A else {
                pieceLength += 1
                continue
            }
            pieces += 1
            if pieceLength == 0 { empties += 1 } else if pieceLength > 4 { return false } else { groups += 1 }
            pieceLength = 0
        }
        let compressed = empties > 0
        let startsOrEndsCompressed = run.first == 0x3A || run.last == 0x3A
        // One "::" in the middle leaves one empty piece; at an end it leaves two; any other count is malformed.
        guard empties == 0 || empties == (startsOrEndsCompressed ? 2 : 1) || (empties == 3 && pieces == 3) else {
            return false
        }
        if run.first == 0x3A, run.dropFirst().first != 0x3A { return false }
        if run.last == 0x3A, run.dropLast().last != 0x3A { return false }
        return compressed ? groups <= 7 : groups == 8
    }
}
