/// Finds e-mail addresses: a local part of `[A-Za-z0-9._%+-]`, `@`, and a domain of at least two labels whose last
/// label (the TLD) is at least two letters. Each `@` reads its neighbours once and the next search starts after the
/// domain, so the scan is linear even on a text of `@`s.
enum EmailScanner {
    static func matches(in text: TextBytes) -> [Range<Int>] {
        let bytes = text.bytes
        var found: [Range<Int>] = []
        var searchFrom = 0
        var at = 0
        while at < bytes.count {
            defer { at += 1 }
            guard bytes[at] == 0x40, at >= searchFrom else { continue }  // "@"
            var start = at
            while start > searchFrom, isLocalByte(bytes[start - 1]) { start -= 1 }
            while start < at, bytes[start] == 0x2E { start += 1 }  // a local part does not begin with "."
            guard start < at, bytes[at - 1] != 0x2E else { continue }
            guard let end = domainEnd(bytes, from: at + 1) else { continue }
            found.append(start..<end)
            searchFrom = end
            at = end - 1
        }
        return found
    }

    private static func isLocalByte(_ byte: UInt8) -> Bool {
        ASCII.isAlphanumeric(byte) || byte == 0x2E || byte == 0x5F || byte == 0x25 || byte == 0x2B || byte == 0x2D
    }

    /// The end of a valid domain starting at `start`, or nil.
    private static func domainEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var end = start
        while end < bytes.count, ASCII.isAlphanumeric(bytes[end]) || bytes[end] == 0x2E || bytes[end] == 0x2D {
            end += 1
        }
        // A sentence may end right after the address: drop trailing dots and hyphens.
        while end > start, bytes[end - 1] == 0x2E || bytes[end - 1] == 0x2D { end -= 1 }
        var labelStart = start
        var lastLabelStart = start
        var labels = 0
        for index in start...end where index == end || bytes[index] == 0x2E {
            let label = bytes[labelStart..<index]
            guard !label.isEmpty, label.first != 0x2D, label.last != 0x2D else { return nil }
            labels += 1
            lastLabelStart = labelStart
            labelStart = index + 1
        }
        let topLevel = bytes[lastLabelStart..<end]
        guard labels >= 2, topLevel.count >= 2, topLevel.allSatisfy(ASCII.isLetter) else { return nil }
        return end
    }
}
