import Testing

@testable import TallyPDF

/// The embedded font keeps original glyph ids and empties the glyphs not drawn; composites keep their components.
@Suite struct SubsetTests {
    /// "Ä" (glyph 134) is a composite of "A" (36) and "Dieresis" (5922) in DejaVu Sans.
    @Test func keepsCompositeComponents() throws {
        let file = try Fixtures.dejaVu().file
        #expect(try file.components(of: 134) == [36, 5922])
        #expect(file.glyphClosure([134]) == [0, 134, 36, 5922])

        let subset = try TrueTypeFont(bytes: try file.subset(keeping: [134]), needsCharacterMap: false)
        #expect(subset.glyphCount == 5923)  // cut after the highest glyph kept
        for glyph: UInt16 in [0, 36, 134, 5922] {
            let original = try file.glyphRange(glyph)
            let kept = try subset.glyphRange(glyph)
            #expect(Array(subset.reader.bytes[kept].prefix(original.count)) == Array(file.reader.bytes[original]))
        }
        for glyph: UInt16 in [1, 3, 37, 135, 5921] { #expect(try subset.glyphRange(glyph).isEmpty) }
        // Metrics of kept glyphs are unchanged.
        #expect(subset.advance(of: 134) == 1401 && subset.advance(of: 36) == 1401)
        #expect(subset.unitsPerEm == 2048 && subset.postScriptName == "Font")  // the name table is left out
    }

    @Test func writesAValidFontFile() throws {
        let file = try Fixtures.dejaVu().file
        let bytes = try file.subset(keeping: [36, 72, 3])
        let subset = try TrueTypeFont(bytes: bytes, needsCharacterMap: false)
        #expect(subset.glyphCount == 73)
        #expect(
            subset.tables.keys.sorted() == [
                "OS/2", "cvt ", "fpgm", "glyf", "head", "hhea", "hmtx", "loca", "maxp", "post", "prep",
            ])
        // The whole file sums to the magic constant once head.checkSumAdjustment is in place.
        #expect(TrueTypeFont.checksum(bytes) == 0xB1B0_AFBA)
        // Each table's recorded checksum matches its data (head is summed with checkSumAdjustment as zero).
        let reader = BigEndianReader(bytes: bytes)
        for entry in 0..<Int(try reader.u16(4)) {
            let at = 12 + 16 * entry
            let tag = String(decoding: bytes[at..<(at + 4)], as: UTF8.self)
            var data = Array(bytes[subset.tables[tag]!])
            if tag == "head" { data.replaceSubrange(8..<12, with: [0, 0, 0, 0]) }
            #expect(try reader.u32(at + 4) == TrueTypeFont.checksum(data), "\(tag)")
        }
        #expect(bytes.count < 60_000)  // DejaVu Sans is 757 kB; three glyphs are far less
    }
}
