/// Finds payment card numbers: 13–19 digits in groups joined by single spaces or dashes, first digit 2–6 (the IIN
/// ranges of Mastercard, Visa, Amex, Discover, JCB, UnionPay…), passing the Luhn check. A chain of groups may hold
/// several numbers ("card A card B"), so every window of whole groups is tried, leftmost then longest; a window never
/// holds more than 19 digits, so the work per group is bounded and the scan linear. Printed cards group digits by 3
/// or more (4-4-4-4, 4-6-5), so shorter groups end a window: "4 4 4 4 …" is not a card.
enum CardScanner {
    static func matches(in text: TextBytes) -> [Range<Int>] {
        let bytes = text.bytes
        var found: [Range<Int>] = []
        var offset = 0
        while offset < bytes.count {
            guard ASCII.isDigit(bytes[offset]) else {
                offset += 1
                continue
            }
            let groups = groupChain(text, from: offset)
            let chainEnd = groups.last!.upperBound
            if text.isNumberStart(at: offset) {
                found += numbers(in: groups, text: text, chainEndsCleanly: text.isNumberEnd(at: chainEnd))
            }
            offset = chainEnd
        }
        return found
    }

    /// Digit groups joined by one space or dash each.
    private static func groupChain(_ text: TextBytes, from start: Int) -> [Range<Int>] {
        var groups: [Range<Int>] = []
        var offset = start
        while true {
            let end = text.digitRunEnd(from: offset)
            groups.append(offset..<end)
            guard let separator = text[safe: end], separator == 0x20 || separator == 0x2D,
                let next = text[safe: end + 1], ASCII.isDigit(next)
            else { return groups }
            offset = end + 1
        }
    }

    private static func numbers(in groups: [Range<Int>], text: TextBytes, chainEndsCleanly: Bool) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var first = 0
        while first < groups.count {
            var checksum = LuhnSums()
            var longest: Int?
            for last in first..<groups.count {
                guard checksum.count + groups[last].count <= 19, groups[last].count >= 3 else { break }
                for offset in groups[last] { checksum.append(ASCII.digitValue(text.bytes[offset])) }
                let endsCleanly = last < groups.count - 1 || chainEndsCleanly
                if checksum.count >= 13, endsCleanly, checksum.isValid { longest = last }
            }
            let leading = text.bytes[groups[first].lowerBound]
            if let last = longest, leading >= 0x32, leading <= 0x36 {
                found.append(groups[first].lowerBound..<groups[last].upperBound)
                first = last + 1
            } else {
                first += 1
            }
        }
        return found
    }
}

/// The Luhn check computed as digits are appended on the right: which digits get doubled depends on the final
/// length, so both parities are summed and the right one is picked at the end.
struct LuhnSums {
    private var evenDoubled = 0
    private var oddDoubled = 0
    private(set) var count = 0

    mutating func append(_ digit: Int) {
        let doubled = digit * 2 > 9 ? digit * 2 - 9 : digit * 2
        if count % 2 == 0 {
            evenDoubled += doubled
            oddDoubled += digit
        } else {
            evenDoubled += digit
            oddDoubled += doubled
        }
        count += 1
    }

    /// Whether the digits so far pass Luhn: the rightmost digit is not doubled, the one before it is, and so on.
    var isValid: Bool {
        // Position k (from the left) is doubled when count - 1 - k is odd, i.e. when k has the parity of count.
        let sum = count % 2 == 0 ? evenDoubled : oddDoubled
        return count > 0 && sum % 10 == 0
    }
}
