/// A TrueType font to draw text with, made from the bytes of a .ttf file (glyf outlines; not CFF, not .ttc).
///
/// Only the glyphs a document draws are embedded (see `TrueTypeFont.subset`). A font is immutable and may be
/// shared by any number of documents, concurrently: the use a document makes of it is recorded by that document.
public final class PDFFont: Sendable {
    let file: TrueTypeFont

    /// Parses the font; throws `PDFFontError` for a file that is not a usable glyf TrueType font.
    public init(bytes: [UInt8]) throws {
        file = try TrueTypeFont(bytes: bytes)
    }

    /// The font's PostScript name (name table, nameID 6), as it appears after the subset tag in the PDF.
    public var postScriptName: String { file.postScriptName }

    /// Whether the font has a glyph (other than .notdef) for `scalar`.
    public func hasGlyph(for scalar: Unicode.Scalar) -> Bool { glyph(for: scalar) != nil }

    /// Ascender above the baseline, as a fraction of the font size (hhea).
    public var ascent: Double { Double(file.ascender) / Double(file.unitsPerEm) }
    /// Descender below the baseline, as a fraction of the font size; negative (hhea).
    public var descent: Double { Double(file.descender) / Double(file.unitsPerEm) }
    /// The height of capital letters, as a fraction of the font size; for centring text in a box.
    public var capHeight: Double { Double(file.capHeight) / Double(file.unitsPerEm) }
    /// Baseline-to-baseline distance the font designer intended, as a fraction of the font size.
    public var lineSpacing: Double { Double(file.ascender - file.descender + file.lineGap) / Double(file.unitsPerEm) }

    func glyph(for scalar: Unicode.Scalar) -> UInt16? {
        guard let glyph = file.characterMap.glyph(for: scalar), Int(glyph) < file.glyphCount else { return nil }
        return glyph
    }

    /// A glyph's advance in thousandths of the font size: PDF's text space unit, the unit of the /W array.
    func advance(of glyph: UInt16) -> Double {
        Double(file.advance(of: glyph)) * 1000 / Double(file.unitsPerEm)
    }

    /// The PostScript name reduced to characters that are safe in a PDF name object and in every viewer.
    var safeName: String {
        let kept = postScriptName.unicodeScalars.filter {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
        }
        let name = String(String.UnicodeScalarView(kept.prefix(56)))
        return name.isEmpty ? "Font" : name
    }
}

/// Fonts tried in order for each character: the first that has a glyph draws it (DejaVu Sans for Latin, then a
/// Japanese font, then a symbol font for emoji). A character no font has is drawn with the first font's .notdef
/// glyph (usually a box), and still maps to its text, so copying or extracting the text gives it back.
public struct FontChain: Sendable {
    public let fonts: [PDFFont]

    public init(_ fonts: [PDFFont]) {
        precondition(!fonts.isEmpty, "a FontChain needs at least one font")
        self.fonts = fonts
    }

    public init(_ font: PDFFont) { self.init([font]) }

    /// The first font's metrics set the line: its ascent, descent and spacing.
    public var primary: PDFFont { fonts[0] }

    /// The width of `text` drawn at `size` points, in points.
    public func width(of text: String, size: Double) -> Double {
        shape(text).reduce(0) { $0 + $1.advance } * size / 1000
    }
}
