import Testing

@testable import TallyPDF

/// File structure, determinism, and text that tries to break out of the content stream.
@Suite struct DocumentTests {
    static func smallDocument(title: String = "Statement", text: String = "Total $1,230.50") throws -> PDFDocument {
        let style = PDFTextStyle(font: FontChain(try Fixtures.dejaVu()), size: 12)
        var document = PDFDocument(info: PDFDocumentInfo(title: title, author: "Tally", creationDate: Fixtures.date))
        document.addPage(size: .a4)
        document.pages[0].drawText(text, x: 56, y: 100, style: style)
        document.pages[0].drawRect(
            PDFRect(x: 56, y: 120, width: 100, height: 20), fill: PDFColor(hex: 0x635BFF), cornerRadius: 4)
        document.pages[0].drawPolyline(
            [PDFPoint(x: 56, y: 200), PDFPoint(x: 100, y: 180), PDFPoint(x: 150, y: 190)],
            style: PDFStrokeStyle(color: .black, width: 1.5, dash: [3, 2]))
        document.addPage(size: .letter)
        document.pages[1].drawText("Page two", x: 306, y: 396, style: style, alignment: .center)
        return document
    }

    @Test func sameInputGivesSameBytes() throws {
        let first = try Self.smallDocument().write()
        let second = try Self.smallDocument().write()
        #expect(first == second)
        let other = try Self.smallDocument(text: "Total $1,230.51").write()
        #expect(other != first)
        // The /ID is a hash of the content, so it changes with it.
        let id = { (bytes: [UInt8]) in PDFInspection(bytes: bytes).text.split(separator: "/ID [")[1].prefix(34) }
        #expect(id(first) != id(other))
    }

    /// The exact bytes of a fixed document, so a change in output cannot go unnoticed: a closed month's statement
    /// must render the same forever. Each `swift test` is a new process with a new hashing seed, so this also
    /// catches output that depends on dictionary order. If output changes on purpose, update the digest (it also
    /// depends on the DejaVu Sans file embedded, 2.37 from Debian 12).
    @Test func outputIsPinned() throws {
        let bytes = try Self.smallDocument().write()
        let digest = MD5.digest(bytes).map {
            String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16)
        }
        #expect(digest.joined() == "5f9ba706572513d42056e1d9dcfb21bb")
    }

    @Test func crossReferenceTablePointsAtEveryObject() throws {
        let bytes = try Self.smallDocument().write()
        let pdf = PDFInspection(bytes: bytes)
        #expect(pdf.text.hasPrefix("%PDF-1.7\n"))
        #expect(pdf.text.hasSuffix("%%EOF\n"))
        let offsets = try pdf.xrefOffsets()
        #expect(offsets.count > 10)
        for (number, offset) in offsets.enumerated().dropFirst() {
            #expect(bytes[offset...].starts(with: Array("\(number) 0 obj\n".utf8)), "object \(number)")
        }
        #expect(pdf.text.contains("/Type /Pages /Kids [4 0 R 6 0 R] /Count 2"))
        #expect(pdf.text.contains("/MediaBox [0 0 612 792]"))
        #expect(pdf.text.contains("/CreationDate (D:20260131235958Z)"))
    }

    @Test func numbersAreWrittenPlainly() {
        #expect(PDFNumber.format(0) == "0")
        #expect(PDFNumber.format(-0.0001) == "0")
        #expect(PDFNumber.format(595.2756) == "595.276")
        #expect(PDFNumber.format(-12.5) == "-12.5")
        #expect(PDFNumber.format(1e300) == "1000000000000")
        #expect(PDFNumber.format(.nan) == "0" && PDFNumber.format(.infinity) == "0")
        #expect(PDFDate(year: 2026, month: 13, day: 0, hour: 25).pdfString == "D:20261201230000Z")
    }

    /// Text becomes glyph codes in hex strings, and document information becomes UTF-16 hex, so nothing a caller
    /// passes can close a string, add an operator or end a dictionary.
    @Test func hostileTextCannotBreakOutOfItsString() throws {
        let hostile = "a) Tj ET BT /F1 99 Tf (pwned) Tj \\) \\\\ ( \u{0} \u{7}\u{1B}[0m \r\n endstream endobj %%EOF >>"
        var document = try Self.smallDocument(title: hostile, text: hostile)
        document.info.author = ")\\(\u{0}"
        document.compressesStreams = false
        let bytes = try document.write()
        let pdf = PDFInspection(bytes: bytes)

        let contents = try pdf.objects(containing: "/Length").filter { try !pdf.objectText($0).contains("/Length1") }
        let pageContent = try #require(contents.first)
        let stream = String(decoding: try pdf.streamData(ofObject: pageContent), as: UTF8.self)
        let tokens = tokenize(stream)
        #expect(!tokens.contains(.literal))
        for case .hex(let body) in tokens { #expect(body.allSatisfy { $0.isHexDigit }, "\(body)") }
        let operators = Set(tokens.compactMap { if case .op(let op) = $0 { op } else { nil } })
        #expect(
            operators.isSubset(of: [
                "q", "Q", "rg", "RG", "w", "d", "j", "m", "l", "c", "h", "f", "S", "B", "BT", "ET", "Tm", "Tf", "Tj",
            ]))
        #expect(tokens.filter { $0 == .op("BT") }.count == 1 && tokens.filter { $0 == .op("Tj") }.count == 1)
        #expect(tokens.filter { $0 == .name("F1") }.count == 1)

        // The information dictionary: hex strings only, apart from the date.
        let info = try pdf.objectText(3)
        #expect(info.contains("/Title <FEFF0061002900200054006A"))
        #expect(info.contains("/Author <FEFF0029005C00280000>"))
        #expect(info.filter { $0 == "(" }.count == 1)  // the CreationDate's
    }

    /// Every drawn character gets a code whose ToUnicode entry gives it back: astral characters as surrogate
    /// pairs, a character no font has as its own code on glyph 0, and a variation selector with its emoji.
    @Test func toUnicodeMapsEveryCharacter() throws {
        let font = try Fixtures.dejaVu()
        var document = PDFDocument(info: PDFDocumentInfo(creationDate: Fixtures.date))
        document.compressesStreams = false
        document.addPage()
        document.pages[0].drawText(
            "A\u{1F600}\u{2764}\u{FE0F}\u{10FFFD}\u{10FFFC} A\u{A0}", x: 10, y: 10,
            style: PDFTextStyle(font: FontChain(font), size: 10))
        let pdf = PDFInspection(bytes: try document.write())
        let cmapObject = try #require(try pdf.objects(containing: "/ToUnicode").first)
        let toUnicodeRef = try pdf.objectText(cmapObject).split(separator: "/ToUnicode ")[1].prefix { $0.isNumber }
        let cmap = String(decoding: try pdf.streamData(ofObject: Int(toUnicodeRef)!), as: UTF8.self)
        let expected = [
            "<0001> <0041>", "<0002> <D83DDE00>", "<0003> <2764FE0F>", "<0004> <DBFFDFFD>", "<0005> <DBFFDFFC>",
            "<0006> <0020>", "<0007> <00A0>",
        ]
        #expect(cmap.contains("7 beginbfchar\n" + expected.joined(separator: "\n") + "\nendbfchar"))
        // CIDToGIDMap: CID 0 → 0, A → 36, 😀 → 5857, ❤ → 4076, the two unmapped → 0, space → 3, no-break space → 98.
        let mapRef = try pdf.text.split(separator: "/CIDToGIDMap ")[1].prefix { $0.isNumber }
        let map = try pdf.streamData(ofObject: Int(mapRef)!)
        let glyphs = stride(from: 0, to: map.count, by: 2).map { UInt16(map[$0]) << 8 | UInt16(map[$0 + 1]) }
        #expect(glyphs == [0, 36, 5857, 4076, 0, 0, 3, 98])
        #expect(pdf.text.contains("/W [1 [684.082 1042.48 837.891 600.098 600.098 317.871 317.871]]"))
    }

    @Test func unusedFontsAreNotEmbedded() throws {
        var document = PDFDocument(info: PDFDocumentInfo(creationDate: Fixtures.date))
        document.addPage()
        document.pages[0].drawText(
            "\u{0}\u{1}", x: 10, y: 10, style: PDFTextStyle(font: FontChain(try Fixtures.dejaVu()), size: 10))
        let text = PDFInspection(bytes: try document.write()).text
        #expect(!text.contains("/FontFile2"))
        #expect(text.contains("/Resources << >>"))
    }
}
