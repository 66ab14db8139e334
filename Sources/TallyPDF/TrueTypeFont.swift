/// The parts of a TrueType (glyf-outline) font file that embedding and layout need: the table directory,
/// metrics from head, hhea, maxp, post and OS/2, the PostScript name, the character map, and per-glyph
/// advances and outlines read on demand (hmtx, loca, glyf are not copied out: a CJK font has 10,000+ glyphs).
struct TrueTypeFont: Sendable {
    let reader: BigEndianReader
    /// Table tag → byte range in the file. Only looked up by tag, never iterated, so output order cannot depend on it.
    let tables: [String: Range<Int>]

    let unitsPerEm: Int
    /// The font-wide glyph bounding box, in font units (head).
    let boundingBox: (xMin: Int, yMin: Int, xMax: Int, yMax: Int)
    let longLocaOffsets: Bool
    let ascender: Int
    let descender: Int
    let lineGap: Int
    let horizontalMetricsCount: Int
    let glyphCount: Int
    /// In degrees, counter-clockwise from vertical (post).
    let italicAngle: Double
    /// From OS/2 when it has one (version 2+), else the top of the "H" outline.
    private(set) var capHeight: Int
    let weightClass: Int
    let postScriptName: String
    let characterMap: CharacterMap

    /// `needsCharacterMap` is false only to read back a subset font, which has no cmap (PDF text addresses
    /// glyphs by id); such a font maps no characters.
    init(bytes: [UInt8], needsCharacterMap: Bool = true) throws {
        let r = BigEndianReader(bytes: bytes)
        reader = r
        let version = try r.u32(0)
        if version == 0x4F54_544F {
            throw PDFFontError("the font has CFF outlines (OpenType 'OTTO'); a glyf TrueType font is needed")
        }
        if version == 0x7474_6366 {
            throw PDFFontError("a font collection (.ttc) is not supported; pass a single .ttf")
        }
        guard version == 0x0001_0000 || version == 0x7472_7565 else { throw PDFFontError("not a TrueType font file") }
        var found: [String: Range<Int>] = [:]
        for i in 0..<Int(try r.u16(4)) {
            let entry = 12 + 16 * i
            let tag = String(decoding: try r.slice(entry, count: 4, "the table directory"), as: UTF8.self)
            found[tag] = try r.range(Int(try r.u32(entry + 8)), count: Int(try r.u32(entry + 12)), "table '\(tag)'")
        }
        tables = found
        func table(_ tag: String, minimumLength: Int) throws -> Int {
            guard let range = found[tag] else { throw PDFFontError("the font has no '\(tag)' table") }
            guard range.count >= minimumLength else { throw PDFFontError("the '\(tag)' table is truncated") }
            return range.lowerBound
        }
        for tag in ["loca", "glyf", "hmtx"] { _ = try table(tag, minimumLength: 0) }

        let head = try table("head", minimumLength: 54)
        unitsPerEm = Int(try r.u16(head + 18))
        guard (16...16384).contains(unitsPerEm) else { throw PDFFontError("head.unitsPerEm is out of range") }
        boundingBox = (
            Int(try r.i16(head + 36)), Int(try r.i16(head + 38)), Int(try r.i16(head + 40)), Int(try r.i16(head + 42))
        )
        longLocaOffsets = try r.i16(head + 50) == 1

        let hhea = try table("hhea", minimumLength: 36)
        ascender = Int(try r.i16(hhea + 4))
        descender = Int(try r.i16(hhea + 6))
        lineGap = Int(try r.i16(hhea + 8))
        horizontalMetricsCount = Int(try r.u16(hhea + 34))

        glyphCount = Int(try r.u16(try table("maxp", minimumLength: 6) + 4))
        guard horizontalMetricsCount >= 1, horizontalMetricsCount <= glyphCount else {
            throw PDFFontError("hhea.numberOfHMetrics does not fit maxp.numGlyphs")
        }
        guard found["hmtx"]!.count >= horizontalMetricsCount * 4 + (glyphCount - horizontalMetricsCount) * 2 else {
            throw PDFFontError("the 'hmtx' table is truncated")
        }
        guard found["loca"]!.count >= (glyphCount + 1) * (longLocaOffsets ? 4 : 2) else {
            throw PDFFontError("the 'loca' table is truncated")
        }

        if let post = found["post"], post.count >= 32 {
            italicAngle = Double(Int32(bitPattern: try r.u32(post.lowerBound + 4))) / 65536
        } else {
            italicAngle = 0
        }
        characterMap =
            needsCharacterMap || found["cmap"] != nil
            ? try CharacterMap(reader: r, table: try table("cmap", minimumLength: 4)) : CharacterMap(reader: r)
        postScriptName = try Self.readPostScriptName(r, table: found["name"]) ?? "Font"

        // OS/2 is optional in Apple fonts; without it the hhea metrics and the outline of "H" stand in.
        var capHeight = 0
        var weightClass = 400
        if let os2 = found["OS/2"], os2.count >= 78 {
            weightClass = Int(try r.u16(os2.lowerBound + 4))
            if try r.u16(os2.lowerBound) >= 2, os2.count >= 90 { capHeight = Int(try r.i16(os2.lowerBound + 88)) }
        }
        self.weightClass = weightClass
        self.capHeight = capHeight
        if capHeight <= 0 {
            let outline = characterMap.glyph(for: "H").flatMap { try? glyphRange($0) }
            if let outline, outline.count >= 10 {
                self.capHeight = Int(try r.i16(outline.lowerBound + 8))  // the glyph header's yMax
            } else {
                self.capHeight = ascender * 7 / 10
            }
        }
    }

    /// The advance width of a glyph in font units; glyphs past numberOfHMetrics repeat the last advance.
    func advance(of glyph: UInt16) -> Int {
        let hmtx = tables["hmtx"]!.lowerBound
        let index = min(Int(glyph), horizontalMetricsCount - 1)
        // In range: init checked that hmtx holds numberOfHMetrics entries.
        return Int((try? reader.u16(hmtx + 4 * index)) ?? 0)
    }

    /// Where a glyph's outline lies in the file; empty for a glyph with no outline (a space).
    func glyphRange(_ glyph: UInt16) throws -> Range<Int> {
        guard Int(glyph) < glyphCount else { throw PDFFontError("glyph \(glyph) is past maxp.numGlyphs") }
        let loca = tables["loca"]!.lowerBound
        let start: Int
        let end: Int
        if longLocaOffsets {
            start = Int(try reader.u32(loca + 4 * Int(glyph)))
            end = Int(try reader.u32(loca + 4 * Int(glyph) + 4))
        } else {
            start = Int(try reader.u16(loca + 2 * Int(glyph))) * 2
            end = Int(try reader.u16(loca + 2 * Int(glyph) + 2)) * 2
        }
        let glyf = tables["glyf"]!
        guard start <= end, end <= glyf.count else { throw PDFFontError("glyph \(glyph) lies outside 'glyf'") }
        return (glyf.lowerBound + start)..<(glyf.lowerBound + end)
    }

    /// The glyphs a composite glyph is built from (empty for a simple glyph), read from its component records.
    func components(of glyph: UInt16) throws -> [UInt16] {
        let outline = try glyphRange(glyph)
        guard outline.count >= 10, try reader.i16(outline.lowerBound) < 0 else { return [] }
        var parts: [UInt16] = []
        var offset = outline.lowerBound + 10
        while true {
            guard offset + 4 <= outline.upperBound else { throw PDFFontError("composite glyph \(glyph) is truncated") }
            let flags = try reader.u16(offset)
            parts.append(try reader.u16(offset + 2))
            offset += 4 + (flags & 0x0001 != 0 ? 4 : 2)  // ARG_1_AND_2_ARE_WORDS
            if flags & 0x0008 != 0 { offset += 2 }  // WE_HAVE_A_SCALE
            if flags & 0x0040 != 0 { offset += 4 }  // WE_HAVE_AN_X_AND_Y_SCALE
            if flags & 0x0080 != 0 { offset += 8 }  // WE_HAVE_A_TWO_BY_TWO
            if flags & 0x0020 == 0 { return parts }  // no MORE_COMPONENTS
        }
    }

    /// nameID 6 from the Windows (UTF-16BE) or Macintosh (Roman, read as ASCII) records, or nil.
    private static func readPostScriptName(_ r: BigEndianReader, table: Range<Int>?) throws -> String? {
        guard let table, table.count >= 6 else { return nil }
        let count = Int(try r.u16(table.lowerBound + 2))
        let strings = table.lowerBound + Int(try r.u16(table.lowerBound + 4))
        for i in 0..<count {
            let record = table.lowerBound + 6 + 12 * i
            guard try r.u16(record + 6) == 6 else { continue }
            let platform = try r.u16(record)
            let bytes = try r.slice(strings + Int(try r.u16(record + 10)), count: Int(try r.u16(record + 8)), "a name")
            let text: String
            if platform == 3 || platform == 0 {
                let units = stride(from: bytes.startIndex, to: bytes.endIndex - 1, by: 2).map {
                    UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1])
                }
                text = String(decoding: units, as: UTF16.self)
            } else {
                text = String(decoding: bytes, as: UTF8.self)
            }
            if !text.isEmpty { return text }
        }
        return nil
    }
}
