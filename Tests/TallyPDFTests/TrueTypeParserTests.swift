import Testing

@testable import TallyPDF

/// The TrueType parser against DejaVu Sans 2.37 (Debian fonts-dejavu-core); the expected values were read with
/// fontTools from the same files.
@Suite struct TrueTypeParserTests {
    @Test func readsDejaVuSansTables() throws {
        let file = try Fixtures.dejaVu().file
        #expect(file.unitsPerEm == 2048)
        #expect(file.glyphCount == 6253)
        #expect(file.horizontalMetricsCount == 6238)
        #expect((file.ascender, file.descender, file.lineGap) == (1901, -483, 0))
        #expect(file.boundingBox == (-2090, -948, 3673, 2524))
        #expect(file.longLocaOffsets)
        #expect(file.postScriptName == "DejaVuSans")
        #expect(file.italicAngle == 0)
        #expect(file.weightClass == 400)
        // OS/2 version 1 has no sCapHeight: the top of "H" stands in.
        #expect(file.capHeight == 1493)
    }

    @Test func readsTheBoldFace() throws {
        let file = try Fixtures.font(Fixtures.dejaVuBoldPath).file
        #expect(file.glyphCount == 6196)
        #expect(file.postScriptName == "DejaVuSans-Bold")
        #expect(file.weightClass == 700)
        #expect(file.advance(of: 36) == 1585)  // "A"
    }

    /// DejaVu's best subtable is (3,10) format 12, so the BMP and the astral planes both resolve through it.
    @Test func mapsCharactersToGlyphs() throws {
        let font = try Fixtures.dejaVu()
        let expected: [(Unicode.Scalar, UInt16)] = [
            ("A", 36), (" ", 3), ("W", 58), ("\u{C4}", 134), ("\u{20AC}", 2948), ("\u{2026}", 2825),
            ("\u{1F600}", 5857), ("\u{FE0F}", 5222),
        ]
        for (scalar, glyph) in expected {
            #expect(font.glyph(for: scalar) == glyph, "U+\(String(scalar.value, radix: 16))")
        }
        #expect(font.glyph(for: "\u{3042}") == nil)  // あ: not in DejaVu
        #expect(font.glyph(for: "\u{1F680}") == nil)  // 🚀: not in DejaVu
        #expect(!font.hasGlyph(for: "\u{10FFFD}"))
    }

    @Test func readsFormat4Alone() throws {
        let file = try Fixtures.dejaVu().file
        // Force the format 4 subtable: rebuild a map from the (3,1) record only.
        let cmap = file.tables["cmap"]!.lowerBound
        var format4Offset: Int?
        for i in 0..<Int(try file.reader.u16(cmap + 2)) {
            let record = cmap + 4 + 8 * i
            if try file.reader.u16(record) == 3, try file.reader.u16(record + 2) == 1 {
                format4Offset = cmap + Int(try file.reader.u32(record + 4))
            }
        }
        let offset = try #require(format4Offset)
        #expect(try file.reader.u16(offset) == 4)
        var bytes = file.reader.bytes
        // A cmap header with the one (3,1) record pointing at the original subtable.
        let header: [UInt8] =
            [0, 0, 0, 1, 0, 3, 0, 1] + withUnsafeBytes(of: UInt32(offset - cmap).bigEndian, Array.init)
        bytes.replaceSubrange(cmap..<(cmap + header.count), with: header)
        let map = try CharacterMap(reader: BigEndianReader(bytes: bytes), table: cmap)
        #expect(map.glyph(for: "A") == 36)
        #expect(map.glyph(for: "\u{20AC}") == 2948)
        #expect(map.glyph(for: "\u{1F600}") == nil)  // format 4 cannot reach past U+FFFF
    }

    @Test(
        .enabled(if: Fixtures.hasOptionalFonts || Fixtures.toolsRequired, "needs fonts-ipafont-gothic, fonts-symbola"))
    func readsTheFallbackFonts() throws {
        let japanese = try Fixtures.font(Fixtures.japanesePath)
        #expect(japanese.postScriptName == "IPAGothic")
        #expect(japanese.file.glyphCount == 12728)
        #expect(japanese.glyph(for: "\u{3042}") == 598)  // あ
        #expect(japanese.glyph(for: "\u{65E5}") == 3039)  // 日
        #expect(japanese.file.advance(of: 598) == 2048)
        #expect(japanese.file.capHeight == 1538)  // from OS/2 version 3
        let symbols = try Fixtures.font(Fixtures.symbolsPath)
        #expect(symbols.glyph(for: "\u{1F680}") == 8902)  // 🚀, through format 12
        #expect(symbols.file.advance(of: 8902) == 2022)
    }

    @Test func refusesWhatIsNotAGlyfTrueTypeFont() throws {
        let dejaVu = try Fixtures.bytes(Fixtures.dejaVuPath)
        let cases: [(String, [UInt8], String)] = [
            ("empty", [], "outside the font file"),
            ("CFF", Array("OTTO".utf8) + [0, 0], "CFF outlines"),
            ("collection", Array("ttcf".utf8) + [0, 0], "collection"),
            ("text", Array("%PDF-1.7 not a font".utf8), "not a TrueType font"),
            ("truncated", Array(dejaVu.prefix(4096)), "outside the font file"),
        ]
        for (name, bytes, message) in cases {
            let error = #expect(throws: PDFFontError.self, "\(name)") { try PDFFont(bytes: bytes) }
            #expect(error?.description.contains(message) == true, "\(name): \(error?.description ?? "")")
        }
    }

    /// Hostile table offsets and counts throw instead of trapping.
    @Test func survivesCorruptTableDirectories() throws {
        let original = try Fixtures.bytes(Fixtures.dejaVuPath)
        let tableCount = Int(original[4]) << 8 | Int(original[5])
        for entry in 0..<tableCount {
            for field in [8, 12] {  // offset, length
                var bytes = original
                let at = 12 + 16 * entry + field
                bytes.replaceSubrange(at..<(at + 4), with: [0xFF, 0xFF, 0xFF, 0xF0])
                #expect(throws: PDFFontError.self) { try PDFFont(bytes: bytes) }
            }
        }
    }
}
