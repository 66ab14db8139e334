/// A vector path in page coordinates (top-left origin): chart lines, areas and custom shapes.
public struct PDFPath: Sendable {
    enum Element: Sendable {
        case move(PDFPoint)
        case line(PDFPoint)
        case curve(to: PDFPoint, control1: PDFPoint, control2: PDFPoint)
        case close
    }

    var elements: [Element] = []

    public init() {}

    /// A path through `points` in order: a polyline, e.g. a line chart's series.
    public init(polyline points: [PDFPoint]) {
        for (index, point) in points.enumerated() {
            if index == 0 { move(to: point) } else { line(to: point) }
        }
    }

    /// A rectangle, with its corners rounded by `cornerRadius` (limited to half the shorter side).
    public init(rect: PDFRect, cornerRadius: Double = 0) {
        let r = max(0, min(cornerRadius, rect.width / 2, rect.height / 2))
        guard r > 0 else {
            move(to: PDFPoint(x: rect.x, y: rect.y))
            line(to: PDFPoint(x: rect.maxX, y: rect.y))
            line(to: PDFPoint(x: rect.maxX, y: rect.maxY))
            line(to: PDFPoint(x: rect.x, y: rect.maxY))
            close()
            return
        }
        // A quarter circle as one cubic Bézier: control points at 0.5523 × r along the tangents.
        let k = r * 0.552_284_75
        move(to: PDFPoint(x: rect.x + r, y: rect.y))
        line(to: PDFPoint(x: rect.maxX - r, y: rect.y))
        curve(
            to: PDFPoint(x: rect.maxX, y: rect.y + r), PDFPoint(x: rect.maxX - r + k, y: rect.y),
            PDFPoint(x: rect.maxX, y: rect.y + r - k))
        line(to: PDFPoint(x: rect.maxX, y: rect.maxY - r))
        curve(
            to: PDFPoint(x: rect.maxX - r, y: rect.maxY), PDFPoint(x: rect.maxX, y: rect.maxY - r + k),
            PDFPoint(x: rect.maxX - r + k, y: rect.maxY))
        line(to: PDFPoint(x: rect.x + r, y: rect.maxY))
        curve(
            to: PDFPoint(x: rect.x, y: rect.maxY - r), PDFPoint(x: rect.x + r - k, y: rect.maxY),
            PDFPoint(x: rect.x, y: rect.maxY - r + k))
        line(to: PDFPoint(x: rect.x, y: rect.y + r))
        curve(
            to: PDFPoint(x: rect.x + r, y: rect.y), PDFPoint(x: rect.x, y: rect.y + r - k),
            PDFPoint(x: rect.x + r - k, y: rect.y))
        close()
    }

    public mutating func move(to point: PDFPoint) { elements.append(.move(point)) }
    public mutating func line(to point: PDFPoint) { elements.append(.line(point)) }
    public mutating func curve(to point: PDFPoint, _ control1: PDFPoint, _ control2: PDFPoint) {
        elements.append(.curve(to: point, control1: control1, control2: control2))
    }
    public mutating func close() { elements.append(.close) }

    /// The path as content-stream operators, flipped into PDF space for a page `pageHeight` points tall.
    func operators(pageHeight: Double) -> String {
        func xy(_ p: PDFPoint) -> String { "\(PDFNumber.format(p.x)) \(PDFNumber.format(pageHeight - p.y))" }
        var out = ""
        for element in elements {
            switch element {
            case .move(let p): out += "\(xy(p)) m\n"
            case .line(let p): out += "\(xy(p)) l\n"
            case .curve(let p, let c1, let c2): out += "\(xy(c1)) \(xy(c2)) \(xy(p)) c\n"
            case .close: out += "h\n"
            }
        }
        return out
    }
}

/// Numbers as content streams and dictionaries write them: plain decimals with at most three fraction digits,
/// never an exponent or a locale's comma, and 0 for NaN or infinity so a bad value cannot corrupt the file.
enum PDFNumber {
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        // Rounded half away from zero by truncating conversion, which needs no libm (`rounded()` would link it).
        let scaled = min(max(value, -1e12), 1e12) * 1000
        let thousandths = Int64(scaled + (scaled < 0 ? -0.5 : 0.5))
        let magnitude = thousandths.magnitude
        let sign = thousandths < 0 ? "-" : ""
        var fraction = String(magnitude % 1000)
        guard fraction != "0" else { return "\(sign)\(magnitude / 1000)" }
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return "\(sign)\(magnitude / 1000).\(fraction)"
    }

    static func format(_ color: PDFColor) -> String {
        [color.red, color.green, color.blue].map { format(min(max($0, 0), 1)) }.joined(separator: " ")
    }
}
