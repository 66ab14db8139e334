/// Builds the font file embedded in the PDF: the same font with every glyph that is not drawn emptied.
///
/// Glyph ids are kept as they are (so no renumbering can go wrong, and composite glyphs still point at their
/// components); only glyf and loca are rebuilt, and the glyph count is cut after the highest glyph used.
/// Tables a CIDFontType2 needs are kept (head, hhea, maxp, hmtx, loca, glyf, and the hinting programs cvt,
/// fpgm, prep that glyph instructions call); cmap, name, kerning and layout tables are left out, since PDF
/// text selects glyphs by id and carries its own widths and Unicode map.
extension TrueTypeFont {
    /// `glyphs` plus glyph 0 (.notdef) and, recursively, every component of a composite glyph among them.
    func glyphClosure(_ glyphs: some Sequence<UInt16>) -> Set<UInt16> {
        var closed: Set<UInt16> = []
        var pending = Array(glyphs) + [0]
        while let glyph = pending.popLast() {
            guard Int(glyph) < glyphCount, closed.insert(glyph).inserted else { continue }
            // A damaged composite embeds as what could be read; drawing it is the viewer's concern, not a crash here.
            pending.append(contentsOf: (try? components(of: glyph)) ?? [])
        }
        return closed
    }

    /// The subset font file holding the outlines of `glyphs` (closed over composite components).
    func subset(keeping glyphs: some Sequence<UInt16>) throws -> [UInt8] {
        let kept = glyphClosure(glyphs)
        let newCount = Int(kept.max() ?? 0) + 1

        var glyf: [UInt8] = []
        var loca: [UInt8] = []
        for glyph in 0..<UInt16(newCount) {
            loca.appendU32(UInt32(glyf.count))
            guard kept.contains(glyph) else { continue }
            glyf += reader.bytes[try glyphRange(glyph)]
            while glyf.count % 4 != 0 { glyf.append(0) }  // keeps every outline 4-byte aligned
        }
        loca.appendU32(UInt32(glyf.count))

        var head = Array(try copy("head"))
        head.setU32(0, at: 8)  // checkSumAdjustment, set once the whole file is known
        head.setU16(1, at: 50)  // indexToLocFormat: long offsets, as loca is written above
        var maxp = Array(try copy("maxp"))
        maxp.setU16(UInt16(newCount), at: 4)
        let metricsCount = min(horizontalMetricsCount, newCount)
        var hhea = Array(try copy("hhea"))
        hhea.setU16(UInt16(metricsCount), at: 34)
        // The leading part of hmtx describes exactly the first newCount glyphs.
        let hmtx = Array(try copy("hmtx").prefix(metricsCount * 4 + (newCount - metricsCount) * 2))

        var output: [(tag: String, data: [UInt8])] = [
            ("head", head), ("hhea", hhea), ("maxp", maxp), ("hmtx", hmtx), ("loca", loca), ("glyf", glyf),
        ]
        for tag in ["cvt ", "fpgm", "prep", "OS/2"] where tables[tag] != nil {
            output.append((tag, Array(try copy(tag))))
        }
        if let post = tables["post"], post.count >= 32 {
            // Version 3: the header alone, no glyph names (those would index glyphs that no longer exist).
            var header = Array(try copy("post").prefix(32))
            header.setU32(0x0003_0000, at: 0)
            output.append(("post", header))
        }
        return Self.assemble(output.sorted { Array($0.tag.utf8).lexicographicallyPrecedes(Array($1.tag.utf8)) })
    }

    private func copy(_ tag: String) throws -> ArraySlice<UInt8> {
        guard let range = tables[tag] else { throw PDFFontError("the font has no '\(tag)' table") }
        return reader.bytes[range]
    }

    /// An sfnt file from tables already sorted by tag: the directory, then each table 4-byte aligned, with the
    /// table checksums and head.checkSumAdjustment that the TrueType format defines.
    private static func assemble(_ tables: [(tag: String, data: [UInt8])]) -> [UInt8] {
        var file: [UInt8] = []
        file.appendU32(0x0001_0000)
        file.appendU16(UInt16(tables.count))
        var power = 1
        var log2 = 0
        while power * 2 <= tables.count {
            power *= 2
            log2 += 1
        }
        file.appendU16(UInt16(power * 16))  // searchRange
        file.appendU16(UInt16(log2))  // entrySelector
        file.appendU16(UInt16(tables.count * 16 - power * 16))  // rangeShift

        var offset = 12 + 16 * tables.count
        for table in tables {
            file += Array(table.tag.utf8)
            file.appendU32(checksum(table.data))
            file.appendU32(UInt32(offset))
            file.appendU32(UInt32(table.data.count))
            offset += (table.data.count + 3) / 4 * 4
        }
        var headOffset = 0
        for table in tables {
            if table.tag == "head" { headOffset = file.count }
            file += table.data
            while file.count % 4 != 0 { file.append(0) }
        }
        file.setU32(0xB1B0_AFBA &- checksum(file), at: headOffset + 8)
        return file
    }

    /// The sum of the data as big-endian 32-bit words, the last one zero-padded.
    static func checksum(_ data: [UInt8]) -> UInt32 {
        var sum: UInt32 = 0
        var i = 0
        while i < data.count {
            var word: UInt32 = 0
            for k in 0..<4 { word = word << 8 | UInt32(i + k < data.count ? data[i + k] : 0) }
            sum = sum &+ word
            i += 4
        }
        return sum
    }
}
