/// Finds PEM private key blocks: a `-----BEGIN … PRIVATE KEY-----` line through the matching
/// `-----END … PRIVATE KEY-----` line. A block whose END is missing (a cut-off paste) runs through the base64 lines
/// that follow its header. The next END marker is searched for once and remembered, so a text of many BEGIN lines and
/// no END is still read in linear time.
struct PEMScanner {
    let text: TextBytes
    /// Where the last search for an END line began, and the END line it found (nil: none after that point).
    private var endSearch: (from: Int, found: Range<Int>?)?

    init(text: TextBytes) { self.text = text }

    mutating func block(at start: Int) -> Range<Int>? {
        guard text.bytes[start] == 0x2D, let headerEnd = markerEnd(after: "-----BEGIN ", at: start) else { return nil }
        if let end = nextEndMarker(from: headerEnd) { return start..<end.upperBound }
        var end = headerEnd
        while end < text.count, isBodyByte(text.bytes[end]) { end += 1 }
        return start..<end
    }

    /// The end of `-----BEGIN <LABEL> PRIVATE KEY-----` (or END) at `start`; labels are short upper-case words.
    private func markerEnd(after opening: StaticString, at start: Int) -> Int? {
        guard text.hasPrefix(opening, at: start) else { return nil }
        var offset = start + opening.utf8CodeUnitCount
        let labelLimit = offset + 40
        while offset < min(text.count, labelLimit), ASCII.isUpper(text.bytes[offset]) || text.bytes[offset] == 0x20 {
            offset += 1
        }
        guard text.hasPrefix("-----", at: offset) else { return nil }
        let label = text.bytes[(start + opening.utf8CodeUnitCount)..<offset]
        guard label.count >= 11, label.suffix(11).elementsEqual("PRIVATE KEY".utf8) else { return nil }
        return offset + 5
    }

    private mutating func nextEndMarker(from offset: Int) -> Range<Int>? {
        if let endSearch, endSearch.from <= offset {
            guard let found = endSearch.found else { return nil }
            if found.lowerBound >= offset { return found }
        }
        var cursor = offset
        var found: Range<Int>?
        while cursor < text.count {
            if text.bytes[cursor] == 0x2D, let end = markerEnd(after: "-----END ", at: cursor) {
                found = cursor..<end
                break
            }
            cursor += 1
        }
        endSearch = (offset, found)
        return found
    }

    private func isBodyByte(_ byte: UInt8) -> Bool {
        // Base64 and line breaks only: prose after the key stops the block at its first space or punctuation.
        ASCII.isAlphanumeric(byte) || byte == 0x2B || byte == 0x2F || byte == 0x3D || byte == 0x0A || byte == 0x0D
    }
}
