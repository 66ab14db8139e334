/// The document information dictionary. `creationDate` is required and given by the caller, never read from a
/// clock, because the same input must always produce the same bytes (a closed month's statement never changes).
public struct PDFDocumentInfo: Sendable {
    public var title: String?
    public var author: String?
    public var subject: String?
    /// The application that made the content, e.g. "Tally".
    public var creator: String?
    /// The library that wrote the PDF.
    public var producer: String
    public var creationDate: PDFDate

    public init(
        title: String? = nil, author: String? = nil, subject: String? = nil, creator: String? = nil,
        producer: String = "TallyPDF", creationDate: PDFDate
    ) {
        self.title = title
        self.author = author
        self.subject = subject
        self.creator = creator
        self.producer = producer
        self.creationDate = creationDate
    }
}

/// A PDF document: information and pages. `write()` turns it into a PDF 1.7 file.
///
/// Output is deterministic: no clock, no random numbers, and nothing that depends on hashing order. Fonts are
/// numbered in order of first use, codes in order of drawing, and the trailer /ID is a hash of the content.
public struct PDFDocument: Sendable {
    public var info: PDFDocumentInfo
    public var pages: [PDFPage]
    /// Whether streams are Flate-compressed (the default). Off, content streams and CMaps stay readable text,
    /// for debugging and for tests that read them.
    public var compressesStreams = true

    public init(info: PDFDocumentInfo, pages: [PDFPage] = []) {
        self.info = info
        self.pages = pages
    }

    /// Appends a blank page and returns its index, for `pages[index].draw…` and `PDFCursor`.
    @discardableResult
    public mutating func addPage(size: PDFPageSize = .a4) -> Int {
        pages.append(PDFPage(size: size))
        return pages.count - 1
    }

    /// The PDF file. Throws `PDFFontError` only if a font's outlines turn out unreadable while subsetting.
    public func write() throws -> [UInt8] {
        var writer = PDFObjectWriter()
        let catalog = writer.reserve()
        let pageTree = writer.reserve()
        let infoObject = writer.reserve()
        writer.write(catalog, "<< /Type /Catalog /Pages \(pageTree) 0 R >>")
        writer.write(infoObject, infoDictionary())

        // Content streams first: they assign the fonts' codes, which the font objects then describe.
        var fonts = FontRegistry()
        var pageObjects: [Int] = []
        var contentObjects: [Int] = []
        var fontsByPage: [[Int]] = []
        for page in pages {
            var content = ""
            var fontsUsed: [Int] = []
            for item in page.items {
                switch item {
                case .graphics(let operators): content += operators
                case .text(let text): content += fonts.operators(for: text, fontsUsed: &fontsUsed)
                }
            }
            let pageObject = writer.reserve()
            let contentObject = writer.reserve()
            writer.writeStream(contentObject, dictionary: "", data: Array(content.utf8), compress: compressesStreams)
            pageObjects.append(pageObject)
            contentObjects.append(contentObject)
            fontsByPage.append(fontsUsed)
        }
        let fontObjects = try fonts.usages.map { try $0.write(to: &writer, compress: compressesStreams) }

        for (index, page) in pages.enumerated() {
            let fontEntries = fontsByPage[index].sorted().map {
                "/\(fonts.usages[$0].resourceName) \(fontObjects[$0]) 0 R"
            }
            let resources = fontEntries.isEmpty ? "<< >>" : "<< /Font << \(fontEntries.joined(separator: " ")) >> >>"
            let size = "\(PDFNumber.format(page.size.width)) \(PDFNumber.format(page.size.height))"
            writer.write(
                pageObjects[index],
                "<< /Type /Page /Parent \(pageTree) 0 R /MediaBox [0 0 \(size)] /Resources \(resources)"
                    + " /Contents \(contentObjects[index]) 0 R >>")
        }
        let kids = pageObjects.map { "\($0) 0 R" }.joined(separator: " ")
        writer.write(pageTree, "<< /Type /Pages /Kids [\(kids)] /Count \(pages.count) >>")
        return writer.finish(root: catalog, info: infoObject)
    }

    private func infoDictionary() -> String {
        var entries: [String] = []
        let texts: [(String, String?)] = [
            ("Title", info.title), ("Author", info.author), ("Subject", info.subject), ("Creator", info.creator),
            ("Producer", info.producer),
        ]
        for case (let key, let value?) in texts { entries.append("/\(key) \(PDFTextString.hex(value))") }
        entries.append("/CreationDate (\(info.creationDate.pdfString))")
        return "<< \(entries.joined(separator: " ")) >>"
    }
}
