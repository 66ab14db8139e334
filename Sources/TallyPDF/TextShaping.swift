/// One drawn glyph and the text it stands for. `text` is usually one character; it also carries the invisible
/// characters that follow it (a variation selector after an emoji, a zero-width joiner), which are not drawn
/// but must come back when the text is extracted.
struct GlyphCluster: Hashable, Sendable {
    var glyph: UInt16
    /// In thousandths of the font size.
    var advance: Double
    var text: String
}

/// Consecutive clusters drawn with the same font of a chain.
struct ShapedRun: Sendable {
    let font: PDFFont
    var clusters: [GlyphCluster]

    var advance: Double { clusters.reduce(0) { $0 + $1.advance } }
}

extension FontChain {
    /// Maps text to glyphs, one character at a time, with no kerning, ligatures or complex-script shaping:
    /// enough for Latin, CJK and single emoji in receipts and statements.
    ///
    /// Tab, line feed and carriage return become spaces; other control characters are dropped (they have no
    /// glyph, and a line of text is one line: `wrapped` breaks lines). Default-ignorable characters join the
    /// cluster before them (or, at the start, the one after them), at most 64 UTF-16 units of them.
    func shape(_ text: String) -> [ShapedRun] {
        var runs: [ShapedRun] = []
        var pendingInvisible = ""
        for var scalar in text.unicodeScalars {
            if scalar == "\t" || scalar == "\n" || scalar == "\r" { scalar = " " }
            if scalar.properties.generalCategory == .control { continue }
            if Self.isInvisible(scalar) {
                // Capped so a cluster's text stays within the 512 bytes a ToUnicode entry may hold.
                if runs.isEmpty {
                    if pendingInvisible.utf16.count < 64 { pendingInvisible.unicodeScalars.append(scalar) }
                } else {
                    let last = runs.count - 1
                    let cluster = runs[last].clusters.count - 1
                    if runs[last].clusters[cluster].text.utf16.count < 64 {
                        runs[last].clusters[cluster].text.unicodeScalars.append(scalar)
                    }
                }
                continue
            }
            let (font, glyph) = resolve(scalar)
            var cluster = GlyphCluster(glyph: glyph, advance: font.advance(of: glyph), text: pendingInvisible)
            cluster.text.unicodeScalars.append(scalar)
            pendingInvisible = ""
            if let last = runs.last, last.font === font {
                runs[runs.count - 1].clusters.append(cluster)
            } else {
                runs.append(ShapedRun(font: font, clusters: [cluster]))
            }
        }
        return runs
    }

    /// The first font with a glyph for the character, else the first font's .notdef.
    private func resolve(_ scalar: Unicode.Scalar) -> (PDFFont, UInt16) {
        for font in fonts {
            if let glyph = font.glyph(for: scalar) { return (font, glyph) }
        }
        return (fonts[0], 0)
    }

    /// Characters drawn as nothing, whatever the font maps them to: a font lacking a glyph for U+FE0F would
    /// otherwise draw a .notdef box after every "❤️".
    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x200B...0x200F, 0x2060...0x2064, 0xFE00...0xFE0F, 0xFEFF, 0xE0000...0xE0FFF: true
        default: false
        }
    }
}
