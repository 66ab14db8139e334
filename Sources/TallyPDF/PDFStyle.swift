/// An RGB colour, each component from 0 to 1.
public struct PDFColor: Hashable, Sendable {
    public var red: Double
    public var green: Double
    public var blue: Double

    public init(red: Double, green: Double, blue: Double) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// From a 24-bit hex value as written in CSS: `PDFColor(hex: 0x635BFF)`.
    public init(hex: UInt32) {
        self.init(
            red: Double((hex >> 16) & 0xFF) / 255, green: Double((hex >> 8) & 0xFF) / 255,
            blue: Double(hex & 0xFF) / 255)
    }

    public static let black = PDFColor(red: 0, green: 0, blue: 0)
    public static let white = PDFColor(red: 1, green: 1, blue: 1)
}

/// How a line or outline is stroked.
public struct PDFStrokeStyle: Hashable, Sendable {
    public var color: PDFColor
    /// In points.
    public var width: Double
    /// Alternating dash and gap lengths in points; empty for a solid line.
    public var dash: [Double]

    public init(color: PDFColor, width: Double = 1, dash: [Double] = []) {
        self.color = color
        self.width = width
        self.dash = dash
    }
}

/// The font chain, size (points) and colour text is drawn in.
public struct PDFTextStyle: Sendable {
    public var font: FontChain
    public var size: Double
    public var color: PDFColor

    public init(font: FontChain, size: Double, color: PDFColor = .black) {
        self.font = font
        self.size = size
        self.color = color
    }

    /// The same style at another size or colour, for variations of one base style.
    public func with(size: Double? = nil, color: PDFColor? = nil) -> PDFTextStyle {
        PDFTextStyle(font: font, size: size ?? self.size, color: color ?? self.color)
    }

    /// The width of `text` in this style, in points.
    public func width(of text: String) -> Double { font.width(of: text, size: size) }

    /// The primary font's line spacing at this size, in points.
    public var lineHeight: Double { font.primary.lineSpacing * size }
}

/// Which point of the text the x coordinate gives: its left end, centre or right end.
public enum PDFTextAlignment: Sendable {
    case left
    case center
    case right
}
