/// Writes a used font as PDF objects: a Type0 font with Identity-H encoding over a CIDFontType2 whose
/// CIDToGIDMap turns the document's codes into glyph ids, a /W widths array, a FontDescriptor with the subset
/// font file (FontFile2), and a ToUnicode CMap that gives each code its text back for copying and search.
extension FontUsage {
    /// Writes the objects and returns the number of the Type0 font object, for page /Resources.
    func write(to writer: inout PDFObjectWriter, compress: Bool) throws -> Int {
        let file = font.file
        let fontObject = writer.reserve()
        let cidFont = writer.reserve()
        let descriptor = writer.reserve()
        let fontFile = writer.reserve()
        let toUnicode = writer.reserve()
        let cidToGID = writer.reserve()

        let glyphs = codes.map(\.glyph)
        let name = "\(subsetTag(glyphs))+\(font.safeName)"
        writer.write(
            fontObject,
            "<< /Type /Font /Subtype /Type0 /BaseFont /\(name) /Encoding /Identity-H /DescendantFonts [\(cidFont) 0 R]"
                + " /ToUnicode \(toUnicode) 0 R >>")

        // CID 0 is .notdef; codes start at 1, so one array gives every width from CID 1 on.
        let widths = codes.map { PDFNumber.format($0.advance) }.joined(separator: " ")
        writer.write(
            cidFont,
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /\(name)"
                + " /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>"
                + " /FontDescriptor \(descriptor) 0 R /DW \(PDFNumber.format(font.advance(of: 0)))"
                + (codes.isEmpty ? "" : " /W [1 [\(widths)]]") + " /CIDToGIDMap \(cidToGID) 0 R >>")

        let scale = 1000 / Double(file.unitsPerEm)
        func em(_ value: Int) -> String { String(Int(Double(value) * scale)) }
        let box = file.boundingBox
        // Flags 4, Symbolic: the glyphs are addressed by id, not through a standard Latin encoding.
        let stemV = 50 + file.weightClass / 5  // an estimate: PDF requires StemV, TrueType does not record it
        writer.write(
            descriptor,
            "<< /Type /FontDescriptor /FontName /\(name) /Flags 4"
                + " /FontBBox [\(em(box.xMin)) \(em(box.yMin)) \(em(box.xMax)) \(em(box.yMax))]"
                + " /ItalicAngle \(PDFNumber.format(file.italicAngle)) /Ascent \(em(file.ascender))"
                + " /Descent \(em(file.descender)) /CapHeight \(em(file.capHeight)) /StemV \(stemV)"
                + " /FontFile2 \(fontFile) 0 R >>")

        let subset = try file.subset(keeping: glyphs)
        writer.writeStream(fontFile, dictionary: "/Length1 \(subset.count)", data: subset, compress: compress)
        writer.writeStream(toUnicode, dictionary: "", data: Array(toUnicodeCMap().utf8), compress: compress)

        var map: [UInt8] = [0, 0]  // CID 0 → glyph 0
        for code in codes { map.appendU16(code.glyph) }
        writer.writeStream(cidToGID, dictionary: "", data: map, compress: compress)
        return fontObject
    }

    /// Six capital letters naming this subset (PDF 1.7, 9.6.4), derived from the font and the glyphs used, so
    /// the same drawing always gets the same tag and different subsets of one font get different tags.
    func subsetTag(_ glyphs: [UInt16]) -> String {
        var input = Array(font.postScriptName.utf8)
        for glyph in Set(glyphs).sorted() { input.appendU16(glyph) }
        return String(MD5.digest(input).prefix(6).map { Character(Unicode.Scalar(65 + $0 % 26)) })
    }

    /// The CMap from codes to UTF-16 text; characters past U+FFFF are written as surrogate pairs, as the
    /// ToUnicode format requires. Entries go in blocks of at most 100, the limit a bfchar block may hold.
    func toUnicodeCMap() -> String {
        var cmap = """
            /CIDInit /ProcSet findresource begin
            12 dict begin
            begincmap
            /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
            /CMapName /Adobe-Identity-UCS def
            /CMapType 2 def
            1 begincodespacerange
            <0000> <FFFF>
            endcodespacerange

            """
        let entries = codes.enumerated().map { index, code in
            "<\(FontRegistry.hex4(UInt16(index + 1)))> <\(code.text.utf16.map(FontRegistry.hex4).joined())>"
        }
        for start in stride(from: 0, to: entries.count, by: 100) {
            let block = entries[start..<min(start + 100, entries.count)]
            cmap += "\(block.count) beginbfchar\n" + block.joined(separator: "\n") + "\nendbfchar\n"
        }
        return cmap + "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    }
}
