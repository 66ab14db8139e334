/// Writes the file structure: the header, numbered objects, the cross-reference table and the trailer.
///
/// Object numbers are reserved before the objects that refer to them are written, so a page can name its
/// font objects before they exist; every reserved number must be written before `finish`.
struct PDFObjectWriter {
    private(set) var bytes: [UInt8] = []
    private var offsets: [Int?] = [nil]  // object 0 is the head of the free list

    init() {
        // The binary comment tells transfer tools that the file is not text (PDF 1.7, 7.5.2).
        append("%PDF-1.7\n%\u{E2}\u{E3}\u{CF}\u{D3}\n".unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
    }

    mutating func reserve() -> Int {
        offsets.append(nil)
        return offsets.count - 1
    }

    /// Writes object `number` as a dictionary or other direct value.
    mutating func write(_ number: Int, _ value: String) {
        offsets[number] = bytes.count
        append("\(number) 0 obj\n\(value)\nendobj\n")
    }

    /// Writes object `number` as a stream: `dictionary` holds its entries without << >> and without /Length,
    /// which is added here. With `compress`, the data is Flate-compressed when that makes it smaller.
    mutating func writeStream(_ number: Int, dictionary: String, data: [UInt8], compress: Bool) {
        var payload = data
        var entries = dictionary
        if compress {
            let deflated = Deflate.zlib(data)
            if deflated.count < data.count {
                payload = deflated
                entries += " /Filter /FlateDecode"
            }
        }
        offsets[number] = bytes.count
        append("\(number) 0 obj\n<< \(entries) /Length \(payload.count) >>\nstream\n")
        bytes += payload
        append("\nendstream\nendobj\n")
    }

    /// The cross-reference table and trailer. /ID is the MD5 of everything written before it: the same
    /// content gives the same identifier, and different content a different one, with no random number.
    mutating func finish(root: Int, info: Int) -> [UInt8] {
        let id = MD5.digest(bytes).map { byte in String(FontRegistry.hex4(UInt16(byte)).suffix(2)) }.joined()
        let xref = bytes.count
        append("xref\n0 \(offsets.count)\n0000000000 65535 f\r\n")
        for offset in offsets.dropFirst() {
            guard let offset else { preconditionFailure("a reserved PDF object was never written") }
            let digits = String(offset)
            // Each entry is exactly 20 bytes: 10-digit offset, generation, 'n', and a two-byte end of line.
            append(String(repeating: "0", count: 10 - digits.count) + digits + " 00000 n\r\n")
        }
        append("trailer\n<< /Size \(offsets.count) /Root \(root) 0 R /Info \(info) 0 R /ID [<\(id)> <\(id)>] >>\n")
        append("startxref\n\(xref)\n%%EOF\n")
        return bytes
    }

    private mutating func append(_ text: String) { bytes += Array(text.utf8) }
    private mutating func append(_ data: [UInt8]) { bytes += data }
}

/// Strings in dictionaries (document information) as UTF-16BE hex with a byte-order mark: any text a caller
/// passes — parentheses, backslashes, NUL, non-Latin scripts — is written as hex digits alone.
enum PDFTextString {
    static func hex(_ text: String) -> String {
        "<FEFF" + text.utf16.map { FontRegistry.hex4($0) }.joined() + ">"
    }
}
