/// Fitting text to a width: truncation with an ellipsis, and word wrapping.
extension FontChain {
    /// `text` unchanged when it fits in `maxWidth` at `size`, else as many leading characters as fit followed by
    /// "…" (whole characters only, so an emoji or accented letter is never cut in half).
    public func truncated(_ text: String, toWidth maxWidth: Double, size: Double) -> String {
        guard width(of: text, size: size) > maxWidth else { return text }
        let ellipsis = "…"
        let room = maxWidth - width(of: ellipsis, size: size)
        var kept = ""
        var used = 0.0
        for character in text {
            let w = width(of: String(character), size: size)
            if used + w > room { break }
            kept.append(character)
            used += w
        }
        // Trailing spaces before the ellipsis read as a gap: "Claude …" → "Claude…".
        while kept.last?.isWhitespace == true { kept.removeLast() }
        return kept.isEmpty && room < 0 ? "" : kept + ellipsis
    }

    /// Breaks `text` into lines no wider than `maxWidth` at `size`: at spaces where possible, and inside a word
    /// only when the word alone is too wide (as CJK text without spaces always is). A line feed always breaks.
    public func wrapped(_ text: String, toWidth maxWidth: Double, size: Double) -> [String] {
        var lines: [String] = []
        for paragraph in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            var line = ""
            for word in paragraph.split(separator: " ", omittingEmptySubsequences: true) {
                let candidate = line.isEmpty ? String(word) : line + " " + word
                if width(of: candidate, size: size) <= maxWidth {
                    line = candidate
                    continue
                }
                if !line.isEmpty { lines.append(line) }
                line = ""
                // The word starts a new line; if it is still too wide it is cut by characters.
                for character in word {
                    if !line.isEmpty, width(of: line + String(character), size: size) > maxWidth {
                        lines.append(line)
                        line = ""
                    }
                    line.append(character)
                }
            }
            lines.append(line)
        }
        return lines
    }
}
