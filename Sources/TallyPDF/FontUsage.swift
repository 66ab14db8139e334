/// What one document draws with one font: the character codes (CIDs) it assigned, each standing for a glyph
/// and the text that glyph shows.
///
/// Codes are given out from 1 in order of first use, so the same drawing gives the same codes. A glyph drawn
/// for different text — the .notdef box for two different missing characters, or one glyph shared by a space
/// and a no-break space — gets one code per text, which is what lets ToUnicode give every character back.
struct FontUsage {
    struct Code {
        var glyph: UInt16
        var advance: Double
        var text: String
    }

    let font: PDFFont
    /// The resource name the content streams use, /F1, /F2, …
    let resourceName: String
    /// codes[cid - 1] describes CID `cid`.
    private(set) var codes: [Code] = []
    private var assigned: [GlyphCluster: UInt16] = [:]

    init(font: PDFFont, resourceName: String) {
        self.font = font
        self.resourceName = resourceName
    }

    /// The CID for a cluster, assigning the next one on first use. Past 65,535 distinct clusters (far beyond any
    /// receipt) a new cluster is drawn as CID 0, .notdef with no text, rather than failing the document.
    mutating func code(for cluster: GlyphCluster) -> UInt16 {
        if let cid = assigned[cluster] { return cid }
        guard codes.count < 0xFFFF else { return 0 }
        codes.append(Code(glyph: cluster.glyph, advance: cluster.advance, text: cluster.text))
        let cid = UInt16(codes.count)
        assigned[cluster] = cid
        return cid
    }
}

/// The fonts of a document in order of first use, with their codes; turns placed text into content-stream
/// operators.
struct FontRegistry {
    private(set) var usages: [FontUsage] = []
    private var indexByFont: [ObjectIdentifier: Int] = [:]

    /// Text as BT … ET: the colour, the origin, then per run its font and its codes as a hex string, which holds
    /// only hex digits, so no text — parentheses, backslashes, ")Tj" — can end the string or add an operator.
    mutating func operators(for text: PDFPage.PlacedText, fontsUsed: inout [Int]) -> String {
        var out = "BT\n\(PDFNumber.format(text.color)) rg\n"
        out += "1 0 0 1 \(PDFNumber.format(text.x)) \(PDFNumber.format(text.baseline)) Tm\n"
        for run in text.runs {
            let index = usageIndex(for: run.font)
            if !fontsUsed.contains(index) { fontsUsed.append(index) }
            var hex = ""
            for cluster in run.clusters { hex += Self.hex4(usages[index].code(for: cluster)) }
            out += "/\(usages[index].resourceName) \(PDFNumber.format(text.size)) Tf\n<\(hex)> Tj\n"
        }
        return out + "ET\n"
    }

    private mutating func usageIndex(for font: PDFFont) -> Int {
        if let index = indexByFont[ObjectIdentifier(font)] { return index }
        usages.append(FontUsage(font: font, resourceName: "F\(usages.count + 1)"))
        indexByFont[ObjectIdentifier(font)] = usages.count - 1
        return usages.count - 1
    }

    static func hex4(_ value: UInt16) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([12, 8, 4, 0].map { digits[Int(value >> UInt16($0)) & 0xF] })
    }
}
