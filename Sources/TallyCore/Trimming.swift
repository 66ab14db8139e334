/// Header and form values with the spaces around them dropped.
extension Substring {
    public var trimmingSpaces: String {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

/// Form values with the white space around them dropped.
extension String {
    public func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}

extension String {
    /// Whether the text holds an ASCII control character (NUL to US, DEL): never part of a name, an id or a value that
    /// reaches a log line, a header or a page. They are single bytes in UTF-8, and PostgreSQL refuses NUL in text.
    public var containsControlCharacters: Bool { utf8.contains { $0 < 0x20 || $0 == 0x7F } }
}
