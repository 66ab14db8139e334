import TallyPDF

/// Where Debian's font packages put the fonts the samples use (README: "Fonts").
enum SampleFonts {
    static let regular = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    static let bold = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
    static let japanese = "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf"
    static let symbols = "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf"
}

/// A receipt-like palette: near-black text, two greys for secondary text, hairline dividers, one accent.
struct Theme {
    let regular: FontChain
    let bold: FontChain

    let ink = PDFColor(hex: 0x1A1F36)
    let secondary = PDFColor(hex: 0x596171)
    let muted = PDFColor(hex: 0x8792A2)
    let divider = PDFColor(hex: 0xE3E8EE)
    let panel = PDFColor(hex: 0xF6F8FA)
    let accent = PDFColor(hex: 0x635BFF)
    let accentSoft = PDFColor(hex: 0xC9C6FF)

    let margin = 56.0

    func text(_ size: Double, _ color: PDFColor? = nil) -> PDFTextStyle {
        PDFTextStyle(font: regular, size: size, color: color ?? ink)
    }

    func strong(_ size: Double, _ color: PDFColor? = nil) -> PDFTextStyle {
        PDFTextStyle(font: bold, size: size, color: color ?? ink)
    }

    /// Small capitals-style labels above values ("AMOUNT PAID").
    var label: PDFTextStyle { PDFTextStyle(font: bold, size: 7.5, color: muted) }

    var hairline: PDFStrokeStyle { PDFStrokeStyle(color: divider, width: 0.75) }
}

/// US dollars from nano-dollars: at least 2 and at most 6 decimals, with thousands separators.
/// The masthead every document starts with: the accent bar, "Tally" and the document's kind, its title and subtitle.
func drawMasthead(on page: inout PDFPage, _ t: Theme, kind: String, title: String, subtitle: String) {
    let (left, right) = (t.margin, page.size.width - t.margin)
    page.drawRect(PDFRect(x: 0, y: 0, width: page.size.width, height: 5), fill: t.accent)
    page.drawText("Tally", x: left, y: 64, style: t.strong(14, t.accent))
    page.drawText(kind, x: right, y: 64, style: t.text(10, t.muted), alignment: .right)
    page.drawText(title, x: left, y: 118, style: t.strong(22))
    page.drawText(subtitle, x: left, y: 138, style: t.text(10, t.secondary))
}

func usd(_ nanos: Int64) -> String {
    let micros = (nanos + 500) / 1000
    let whole = micros / 1_000_000
    var fraction = String(micros % 1_000_000)
    fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
    while fraction.count > 2 && fraction.last == "0" { fraction.removeLast() }
    return "$" + grouped(whole) + "." + fraction
}

/// US dollars from nano-dollars, rounded to the cent, for monthly figures.
func usdCents(_ nanos: Int64) -> String {
    let cents = (nanos + 5_000_000) / 10_000_000
    let fraction = String(cents % 100)
    return "$" + grouped(cents / 100) + "." + (fraction.count == 1 ? "0" : "") + fraction
}

/// An integer with comma thousands separators.
func grouped(_ value: Int64) -> String {
    let digits = String(value)
    var out = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(digit)
    }
    return out
}
