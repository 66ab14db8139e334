/// A text lowercased scalar by scalar (Unicode full lowercase mappings), each lowered scalar remembering which source
/// scalar it came from, so keyword hits map back to the original text.
struct LoweredText {
    let scalars: [Unicode.Scalar]
    let sources: [Int]

    init(_ text: ScalarText) {
        var scalars: [Unicode.Scalar] = []
        var sources: [Int] = []
        scalars.reserveCapacity(text.scalars.count)
        for (index, scalar) in text.scalars.enumerated() {
            for lowered in LoweredText.lowercase(scalar) {
                scalars.append(lowered)
                sources.append(index)
            }
        }
        self.scalars = scalars
        self.sources = sources
    }

    static func lowercase(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        if scalar.isASCII || !scalar.properties.changesWhenLowercased { return [CaseMapping.lower(scalar)] }
        return Array(scalar.properties.lowercaseMapping.unicodeScalars)
    }

    static func lowercase(_ text: String) -> [Unicode.Scalar] {
        text.unicodeScalars.flatMap(lowercase)
    }
}

/// Finds a keyword case-insensitively with Knuth–Morris–Pratt (linear whatever the text), whole-word at each end of
/// the keyword that is a letter or digit: "card" finds "Card" and "CARD." but not "discard" or "cardinal". Chinese
/// and Japanese write words without spaces, so an edge in those scripts needs no boundary ("機密" finds "機密情報").
enum KeywordSearch {
    /// The keyword's hits as scalar ranges of the original text.
    static func matches(of keyword: String, in text: LoweredText) -> [Range<Int>] {
        let needle = LoweredText.lowercase(keyword)
        guard let first = needle.first, let last = needle.last, needle.count <= text.scalars.count else { return [] }
        let wordAtStart = needsBoundary(first)
        let wordAtEnd = needsBoundary(last)
        let failure = failureTable(needle)
        var found: [Range<Int>] = []
        var matched = 0
        for (index, scalar) in text.scalars.enumerated() {
            while matched > 0, needle[matched] != scalar { matched = failure[matched - 1] }
            if needle[matched] == scalar { matched += 1 }
            guard matched == needle.count else { continue }
            let start = index + 1 - needle.count
            let end = index + 1
            matched = failure[matched - 1]
            if wordAtStart, start > 0, isWordScalar(text.scalars[start - 1]) { continue }
            if wordAtEnd, end < text.scalars.count, isWordScalar(text.scalars[end]) { continue }
            let source = text.sources[start]..<(text.sources[end - 1] + 1)
            if let previous = found.last, previous.upperBound > source.lowerBound { continue }  // overlapping hit
            found.append(source)
        }
        return found
    }

    private static func needsBoundary(_ scalar: Unicode.Scalar) -> Bool {
        let isKana = (0x3040...0x30FF).contains(scalar.value)
        return isWordScalar(scalar) && !scalar.properties.isIdeographic && !isKana
    }

    /// Letters, digits and combining marks (so a keyword does not end inside "é" written as "e" + U+0301).
    static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return ASCII.isAlphanumeric(UInt8(scalar.value)) }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return scalar.properties.isAlphabetic || scalar.properties.numericType != nil
        }
    }

    /// For each prefix of the needle, the length of its longest proper prefix that is also a suffix.
    private static func failureTable(_ needle: [Unicode.Scalar]) -> [Int] {
        var table = [Int](repeating: 0, count: needle.count)
        var length = 0
        for index in needle.indices.dropFirst() {
            while length > 0, needle[index] != needle[length] { length = table[length - 1] }
            if needle[index] == needle[length] { length += 1 }
            table[index] = length
        }
        return table
    }
}
