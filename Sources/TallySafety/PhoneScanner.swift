/// Finds phone numbers: an optional `+`, then 10–15 digits in groups joined by runs of one or two of ` -.()`, with a
/// `+` or at least one separator (so a bare run of digits, such as a Unix timestamp, is not a phone), at most two
/// one-digit groups (so "1 2 3 4 5 6 7 8 9 10" is not), and not two groups joined by a dot (a decimal number).
/// Spans that another numeric detector claims (card, IBAN, SSN, IP address) are left to it.
enum PhoneScanner {
    static func matches(in text: TextBytes) -> [Range<Int>] {
        let candidates = candidates(in: text)
        guard !candidates.isEmpty else { return [] }
        let claimed = [Detector.creditCard, .iban, .usSSN, .ipAddress].flatMap { $0.byteMatches(in: text) }
            .sorted { $0.lowerBound < $1.lowerBound }
        var found: [Range<Int>] = []
        var claimedIndex = 0
        for candidate in candidates {
            while claimedIndex < claimed.count, claimed[claimedIndex].upperBound <= candidate.lowerBound {
                claimedIndex += 1
            }
            if claimedIndex < claimed.count, claimed[claimedIndex].overlaps(candidate) { continue }
            found.append(candidate)
        }
        return found
    }

    private static func isSeparator(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x2D || byte == 0x2E || byte == 0x28 || byte == 0x29
    }

    private static func candidates(in text: TextBytes) -> [Range<Int>] {
        let bytes = text.bytes
        var found: [Range<Int>] = []
        var offset = 0
        while offset < bytes.count {
            let byte = bytes[offset]
            // Cheap test first: a phone starts with a digit, "+" or "(".
            guard ASCII.isDigit(byte) || byte == 0x2B || byte == 0x28, let firstDigit = chainStart(text, at: offset)
            else {
                offset += 1
                continue
            }
            let (groups, joiners) = groupChain(text, from: firstDigit)
            let end = groups.last!.upperBound
            if text.isNumberStart(at: offset), text.isNumberEnd(at: end),
                isPhone(groups: groups, joiners: joiners, plus: text.bytes[offset] == 0x2B)
            {
                found.append(offset..<end)
            }
            offset = end
        }
        return found
    }

    /// Where the digits begin if a phone may start at `offset` (with "+", "(", "+(" or a digit), else nil.
    private static func chainStart(_ text: TextBytes, at offset: Int) -> Int? {
        var cursor = offset
        if text[safe: cursor] == 0x2B { cursor += 1 }
        if text[safe: cursor] == 0x28 { cursor += 1 }
        guard let byte = text[safe: cursor], ASCII.isDigit(byte) else { return nil }
        return cursor
    }

    /// The digit groups from `start`, and the separator bytes joining each group to the next.
    private static func groupChain(_ text: TextBytes, from start: Int) -> ([Range<Int>], [ArraySlice<UInt8>]) {
        var groups: [Range<Int>] = []
        var joiners: [ArraySlice<UInt8>] = []
        var offset = start
        while true {
            let end = text.digitRunEnd(from: offset)
            groups.append(offset..<end)
            var next = end
            while next < text.count, next - end < 2, isSeparator(text.bytes[next]) { next += 1 }
            guard next > end, let digit = text[safe: next], ASCII.isDigit(digit) else { return (groups, joiners) }
            joiners.append(text.bytes[end..<next])
            offset = next
        }
    }

    private static func isPhone(groups: [Range<Int>], joiners: [ArraySlice<UInt8>], plus: Bool) -> Bool {
        let digits = groups.reduce(0) { $0 + $1.count }
        guard (10...15).contains(digits), plus || !joiners.isEmpty else { return false }
        guard groups.count(where: { $0.count == 1 }) <= 2 else { return false }
        if groups.count == 2, joiners[0] == [0x2E] { return false }
        return true
    }
}
