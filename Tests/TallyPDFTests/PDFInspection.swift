import Testing

@testable import TallyPDF

/// Just enough PDF reading for tests to check the writer's structure without external tools.
struct PDFInspection {
    let bytes: [UInt8]
    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The object offsets from the cross-reference table that startxref points at.
    func xrefOffsets() throws -> [Int] {
        let tail = String(decoding: bytes.suffix(64), as: UTF8.self)
        let parts = tail.split(whereSeparator: \.isNewline)
        let start = try #require(parts.firstIndex(of: "startxref"))
        let xref = try #require(Int(parts[start + 1]))
        let table = String(decoding: bytes[xref...], as: UTF8.self)
        let lines = table.split(whereSeparator: \.isNewline)
        #expect(lines[0] == "xref")
        let count = try #require(Int(lines[1].split(separator: " ")[1]))
        return try (0..<count).map { i in try #require(Int(lines[2 + i].prefix(10))) }
    }

    /// The raw data of object `number`'s stream (as written: compressed or not).
    func streamData(ofObject number: Int) throws -> [UInt8] {
        let offset = try xrefOffsets()[number]
        let marker = Array("stream\n".utf8)
        var start = offset
        while !bytes[start...].starts(with: marker) { start += 1 }
        start += marker.count
        let header = String(decoding: bytes[offset..<start], as: UTF8.self)
        let lengthText = try #require(header.split(separator: "/Length ").last?.prefix { $0.isNumber })
        return Array(bytes[start..<(start + Int(lengthText)!)])
    }

    /// The dictionary text of object `number` (up to "stream" or "endobj").
    func objectText(_ number: Int) throws -> String {
        let offset = try xrefOffsets()[number]
        let rest = String(decoding: bytes[offset..<min(offset + 4000, bytes.count)], as: UTF8.self)
        return String(rest.split(separator: "endobj")[0].split(separator: "stream\n")[0])
    }

    /// Numbers of the objects whose dictionary contains `fragment`.
    func objects(containing fragment: String) throws -> [Int] {
        try xrefOffsets().indices.dropFirst().filter { try objectText($0).contains(fragment) }
    }
}

/// Content-stream tokens: operators, numbers, names, hex strings, literal strings and array brackets.
enum ContentToken: Equatable {
    case op(String)
    case number(String)
    case name(String)
    case hex(String)
    case literal
    case bracket
}

func tokenize(_ content: String) -> [ContentToken] {
    var tokens: [ContentToken] = []
    var chars = Array(content.unicodeScalars)[...]
    while let c = chars.first {
        if c == " " || c == "\n" || c == "\r" {
            chars.removeFirst()
        } else if c == "<" {
            let body = chars.dropFirst().prefix { $0 != ">" }
            tokens.append(.hex(String(String.UnicodeScalarView(body))))
            chars = chars.dropFirst(body.count + 2)
        } else if c == "(" {
            tokens.append(.literal)
            chars = chars.drop { $0 != ")" }.dropFirst()
        } else if c == "[" || c == "]" {
            tokens.append(.bracket)
            chars.removeFirst()
        } else {
            let word = String(String.UnicodeScalarView(chars.prefix { !" \n\r<[]()".unicodeScalars.contains($0) }))
            chars = chars.dropFirst(max(word.unicodeScalars.count, 1))
            if word.hasPrefix("/") {
                tokens.append(.name(String(word.dropFirst())))
            } else if Double(word) != nil {
                tokens.append(.number(word))
            } else {
                tokens.append(.op(word))
            }
        }
    }
    return tokens
}
