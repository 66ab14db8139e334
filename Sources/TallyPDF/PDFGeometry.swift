/// Page geometry. Coordinates are in points (1/72 inch) with the origin at the page's TOP-left corner and y
/// growing downwards, as a receipt is laid out from the top; the writer converts to PDF's bottom-up space.
public struct PDFPoint: Hashable, Sendable {
    public var x: Double
    public var y: Double

    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// A rectangle whose `y` is its top edge.
public struct PDFRect: Hashable, Sendable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public var maxX: Double { x + width }
    public var maxY: Double { y + height }
}

/// A page size in points, portrait.
public struct PDFPageSize: Hashable, Sendable {
    public var width: Double
    public var height: Double

    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// ISO A4, 210 × 297 mm.
    public static let a4 = PDFPageSize(width: 595.28, height: 841.89)
    /// US Letter, 8.5 × 11 in.
    public static let letter = PDFPageSize(width: 612, height: 792)
}

/// Where drawing stands: a page of a document (by index) and a y on it. Returned by layout helpers such as
/// `PDFTable.draw` so the caller continues below what was drawn, on whichever page that ended up.
public struct PDFCursor: Hashable, Sendable {
    public var page: Int
    public var y: Double

    public init(page: Int, y: Double) {
        self.page = page
        self.y = y
    }
}

/// An instant for the document information (its creation date), in UTC. The caller gives it, the writer
/// never reads a clock: the same document rendered twice must give the same bytes.
public struct PDFDate: Hashable, Sendable {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// The PDF date string, `D:YYYYMMDDHHmmSSZ`; fields out of range are clamped, never written as garbage.
    var pdfString: String {
        func two(_ value: Int, _ range: ClosedRange<Int>) -> String {
            let v = min(max(value, range.lowerBound), range.upperBound)
            return v < 10 ? "0\(v)" : "\(v)"
        }
        let y = min(max(year, 0), 9999)
        let year = String(repeating: "0", count: 4 - String(y).count) + String(y)
        return "D:\(year)\(two(month, 1...12))\(two(day, 1...31))\(two(hour, 0...23))\(two(minute, 0...59))"
            + "\(two(second, 0...59))Z"
    }
}
