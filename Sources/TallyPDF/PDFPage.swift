/// One page: a size and what is drawn on it, in drawing order (later drawing covers earlier).
///
/// Drawing records text as glyphs and graphics as content-stream operators; fonts are numbered and embedded
/// when the document is written, so a page can be built, copied and drawn on in any order.
public struct PDFPage: Sendable {
    enum Item: Sendable {
        /// Content-stream operators, already in PDF space, wrapped in q … Q so no state leaks into the next item.
        case graphics(String)
        case text(PlacedText)
    }

    /// Shaped text at a baseline origin in PDF space.
    struct PlacedText: Sendable {
        var runs: [ShapedRun]
        var size: Double
        var color: PDFColor
        var x: Double
        var baseline: Double
    }

    public let size: PDFPageSize
    var items: [Item] = []

    public init(size: PDFPageSize = .a4) { self.size = size }

    /// Draws one line of text with its baseline at `y`; `x` is its left end, centre or right end per `alignment`.
    /// Returns the width drawn, in points. Control characters are not drawn (see `FontChain.shape`).
    @discardableResult
    public mutating func drawText(
        _ text: String, x: Double, y: Double, style: PDFTextStyle, alignment: PDFTextAlignment = .left
    ) -> Double {
        let runs = style.font.shape(text)
        let width = runs.reduce(0) { $0 + $1.advance } * style.size / 1000
        guard !runs.isEmpty else { return 0 }
        let left =
            switch alignment {
            case .left: x
            case .center: x - width / 2
            case .right: x - width
            }
        items.append(
            .text(PlacedText(runs: runs, size: style.size, color: style.color, x: left, baseline: size.height - y)))
        return width
    }

    /// Draws `text` word-wrapped to `width`, the first baseline at `y`, lines `lineHeight` apart (the style's
    /// line height when nil). Returns the baseline where a following line would go.
    @discardableResult
    public mutating func drawParagraph(
        _ text: String, x: Double, y: Double, width: Double, style: PDFTextStyle, lineHeight: Double? = nil,
        alignment: PDFTextAlignment = .left
    ) -> Double {
        let step = lineHeight ?? style.lineHeight
        let anchor =
            switch alignment {
            case .left: x
            case .center: x + width / 2
            case .right: x + width
            }
        var baseline = y
        for line in style.font.wrapped(text, toWidth: width, size: style.size) {
            drawText(line, x: anchor, y: baseline, style: style, alignment: alignment)
            baseline += step
        }
        return baseline
    }

    /// A straight line.
    public mutating func drawLine(from start: PDFPoint, to end: PDFPoint, style: PDFStrokeStyle) {
        var path = PDFPath()
        path.move(to: start)
        path.line(to: end)
        drawPath(path, stroke: style)
    }

    /// A rectangle, filled and/or stroked, its corners optionally rounded. Also a chart's bar.
    public mutating func drawRect(
        _ rect: PDFRect, fill: PDFColor? = nil, stroke: PDFStrokeStyle? = nil, cornerRadius: Double = 0
    ) {
        drawPath(PDFPath(rect: rect, cornerRadius: cornerRadius), fill: fill, stroke: stroke)
    }

    /// A polyline through `points`, with rounded joins (a line chart's series).
    public mutating func drawPolyline(_ points: [PDFPoint], style: PDFStrokeStyle) {
        guard points.count >= 2 else { return }
        drawPath(PDFPath(polyline: points), stroke: style)
    }

    /// Fills and/or strokes a path; with neither, nothing is drawn. Fill uses the nonzero winding rule.
    public mutating func drawPath(_ path: PDFPath, fill: PDFColor? = nil, stroke: PDFStrokeStyle? = nil) {
        guard fill != nil || stroke != nil, !path.elements.isEmpty else { return }
        var ops = "q\n"
        if let fill { ops += "\(PDFNumber.format(fill)) rg\n" }
        if let stroke {
            // All-zero dashes are invalid ("[0 0] 0 d" may hang a viewer): such a pattern draws a solid line.
            let dashes = stroke.dash.contains { $0 > 0 } ? stroke.dash : []
            let dash = dashes.map { PDFNumber.format(max($0, 0)) }.joined(separator: " ")
            ops +=
                "\(PDFNumber.format(stroke.color)) RG \(PDFNumber.format(max(stroke.width, 0))) w [\(dash)] 0 d 1 j\n"
        }
        ops += path.operators(pageHeight: size.height)
        ops += fill == nil ? "S\n" : stroke == nil ? "f\n" : "B\n"
        ops += "Q\n"
        items.append(.graphics(ops))
    }
}
