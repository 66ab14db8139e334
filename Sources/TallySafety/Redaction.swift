/// Replaces hits with their placeholders.
enum Redaction {
    /// `text` with every hit replaced. Each hit is first widened to whole characters (so a match never leaves half of
    /// "é" or of an emoji sequence behind); hits that then overlap or touch merge into one placeholder, the one of
    /// the hit that starts first (the longer one on a tie).
    static func apply(_ hits: [RuleHit], to text: String) -> String {
        guard !hits.isEmpty else { return text }
        let spans = hits.map { (range: characterAligned(text.utf8Range($0.bytes), in: text), $0.placeholder) }
            .sorted {
                $0.range.lowerBound < $1.range.lowerBound
                    || ($0.range.lowerBound == $1.range.lowerBound && $0.range.upperBound > $1.range.upperBound)
            }
        var merged: [(range: Range<String.Index>, placeholder: String)] = []
        for span in spans {
            if let last = merged.last, span.range.lowerBound <= last.range.upperBound {
                let upper = max(last.range.upperBound, span.range.upperBound)
                merged[merged.count - 1].range = last.range.lowerBound..<upper
            } else {
                merged.append(span)
            }
        }
        var result = ""
        result.reserveCapacity(text.utf8.count)
        var copied = text.startIndex
        for span in merged {
            result += text[copied..<span.range.lowerBound]
            result += span.placeholder
            copied = span.range.upperBound
        }
        result += text[copied...]
        return result
    }

    /// `range` widened outwards to the nearest character (grapheme cluster) boundaries.
    static func characterAligned(_ range: Range<String.Index>, in text: String) -> Range<String.Index> {
        let lower = characterStart(atOrBefore: range.lowerBound, in: text)
        var upper = characterStart(atOrBefore: range.upperBound, in: text)
        if upper < range.upperBound { upper = text.index(after: upper) }
        return lower..<max(upper, lower)
    }

    private static func characterStart(atOrBefore index: String.Index, in text: String) -> String.Index {
        guard index < text.endIndex else { return text.endIndex }
        // index(after:) rounds a mid-character index down to its character first; stepping back lands on that start.
        return text.index(before: text.index(after: index))
    }
}
