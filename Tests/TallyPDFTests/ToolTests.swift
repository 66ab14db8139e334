import Foundation
import Testing

@testable import TallyPDF

/// The files checked by tools other than this package: `qpdf --check` for structure, and text extraction with
/// pypdf (pinned in .venv) and poppler's pdftotext for what a reader gets back. Without the tools these tests
/// skip, saying so; with TALLY_PDF_TOOLS=1 (CI) a missing tool fails them.
@Suite struct ToolTests {
    static let installHint = "run scripts/install-deps"
    static let install = "\(installHint); TALLY_PDF_TOOLS=1 turns this skip into a failure"
    static let pinnedPypdf = "7.1.1"

    static let japanese = "請求書 東京チーム、ありがとうございます"
    static let emoji = "Launch 🚀 ❤️ 😀 done"
    static let hostile =
        "a) Tj ET BT /F1 99 Tf (pwned) Tj \\) \\\\ ( \u{0} \u{7}\u{1B}[0m \r\n endstream endobj %%EOF >>"
    static let hostileTitle = "Receipt ) /Author (x) \\ \u{0} >> endobj"

    /// A receipt-like page (title, table, totals), a line of Japanese and a line with emoji, and a second page
    /// the table flows onto.
    static func receiptDocument() throws -> PDFDocument {
        let chain = try Fixtures.fullChain()
        let bold = FontChain([try Fixtures.font(Fixtures.dejaVuBoldPath)] + chain.fonts.dropFirst())
        let body = PDFTextStyle(font: chain, size: 10)
        var document = PDFDocument(
            info: PDFDocumentInfo(title: hostileTitle, author: "Tally 東京", creationDate: Fixtures.date))
        document.addPage(size: .a4)
        document.pages[0].drawText("Receipt for an API call", x: 56, y: 90, style: PDFTextStyle(font: bold, size: 22))
        document.pages[0].drawText(japanese, x: 56, y: 120, style: body)
        document.pages[0].drawText(emoji, x: 56, y: 140, style: body)
        document.pages[0].drawText(hostile, x: 56, y: 160, style: body)
        var table = PDFTable(
            columns: [
                .init("Token class", width: 200), .init("Tokens", width: 90, alignment: .right),
                .init("Amount", width: 120, alignment: .right),
            ],
            rows: [
                ["Input", "12,480", "$0.03744"], ["Cache read", "48,000", "$0.0144"], ["Output", "1,536", "$0.02304"],
            ]
                + (1...40).map { ["Day \($0)", "\($0 * 100)", "$\($0).00"] },
            headerStyle: PDFTextStyle(font: bold, size: 9), bodyStyle: body, rowHeight: 22)
        table.rowSeparator = .rules(PDFStrokeStyle(color: PDFColor(hex: 0xE3E8EE), width: 0.75))
        let end = table.draw(in: &document, at: PDFCursor(page: 0, y: 200), x: 56, bottom: 780, continuationTop: 60)
        document.pages[end.page].drawText(
            "Total $0.08256", x: 466, y: end.y + 24, style: PDFTextStyle(font: bold, size: 11), alignment: .right)
        return document
    }

    /// What drawing makes of text: tab, CR and LF become spaces, other control characters are not drawn.
    static func drawn(_ text: String) -> String {
        String(
            String.UnicodeScalarView(
                text.unicodeScalars.compactMap { s in
                    "\t\r\n".unicodeScalars.contains(s) ? " " : s.properties.generalCategory == .control ? nil : s
                }))
    }

    static func qpdfCheck(_ path: String) throws {
        guard let qpdf = Fixtures.onPath("qpdf") else { throw FixtureError("qpdf is not installed: \(installHint)") }
        let result = try Fixtures.run(qpdf, ["--check", path])
        #expect(result.status == 0, "qpdf --check: \(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("No syntax or stream encoding errors found"))
        #expect(
            result.stderr.isEmpty && !result.stdout.uppercased().contains("WARNING"),
            "\(result.stdout) \(result.stderr)")
    }

    struct Extraction: Decodable {
        var version: String
        var pages: [String]
        var title: String?
        var author: String?
        var problems: [String]
    }

    /// pypdf in strict mode, any warning it logs or raises collected as a problem.
    static func pypdf(_ path: String) throws -> Extraction {
        guard FileManager.default.isExecutableFile(atPath: Fixtures.python) else {
            throw FixtureError("\(Fixtures.python) is missing: \(installHint)")
        }
        let script = """
            import json, logging, sys, warnings
            problems = []
            class Collect(logging.Handler):
                def emit(self, record): problems.append(record.getMessage())
            logging.getLogger("pypdf").addHandler(Collect(level=logging.WARNING))
            warnings.simplefilter("error")
            import pypdf
            def clean(text):  # a lone surrogate (a broken ToUnicode pair) becomes U+FFFD, so JSON stays decodable
                return None if text is None else text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            reader = pypdf.PdfReader(sys.argv[1], strict=True)
            pages = [clean(page.extract_text()) for page in reader.pages]
            info = reader.metadata
            print(json.dumps({"version": pypdf.__version__, "pages": pages, "title": clean(info.title),
                              "author": clean(info.author), "problems": problems}))
            """
        let result = try Fixtures.run(Fixtures.python, ["-c", script, path])
        guard result.status == 0 else { throw FixtureError("pypdf refused the file: \(result.stderr)") }
        return try JSONDecoder().decode(Extraction.self, from: Data(result.stdout.utf8))
    }

    @Test(
        .enabled(
            if: (Fixtures.hasQPDF && Fixtures.hasOptionalFonts) || Fixtures.toolsRequired,
            "qpdf or fonts missing: \(install)"))
    func qpdfFindsNothingWrong() throws {
        var receipt = try Self.receiptDocument()
        try Self.qpdfCheck(try Fixtures.temporaryPDF(try receipt.write(), name: "receipt.pdf"))
        receipt.compressesStreams = false
        try Self.qpdfCheck(try Fixtures.temporaryPDF(try receipt.write(), name: "receipt-uncompressed.pdf"))
        try Self.qpdfCheck(try Fixtures.temporaryPDF(try DocumentTests.smallDocument().write(), name: "small.pdf"))
        // A document with nothing drawn is still a valid file.
        var empty = PDFDocument(info: PDFDocumentInfo(creationDate: Fixtures.date))
        empty.addPage(size: .letter)
        try Self.qpdfCheck(try Fixtures.temporaryPDF(try empty.write(), name: "empty.pdf"))
        empty.pages = []
        try Self.qpdfCheck(try Fixtures.temporaryPDF(try empty.write(), name: "no-pages.pdf"))
    }

    @Test(
        .enabled(
            if: (Fixtures.hasPypdf && Fixtures.hasOptionalFonts) || Fixtures.toolsRequired,
            "pypdf or fonts missing: \(install)"))
    func pypdfExtractsTheTextExactly() throws {
        let path = try Fixtures.temporaryPDF(try Self.receiptDocument().write(), name: "receipt.pdf")
        let extraction = try Self.pypdf(path)
        #expect(extraction.version == Self.pinnedPypdf)
        #expect(extraction.problems.isEmpty, "\(extraction.problems)")
        #expect(extraction.pages.count == 2)
        let lines = extraction.pages.joined(separator: "\n").split(separator: "\n").map(String.init)
        let expected = [
            "Receipt for an API call", Self.japanese, Self.emoji, Self.drawn(Self.hostile), "Token class Tokens Amount",
            "Input 12,480 $0.03744", "Cache read 48,000 $0.0144", "Output 1,536 $0.02304", "Day 40 4000 $40.00",
            "Total $0.08256",
        ]
        for line in expected { #expect(lines.contains(line), "missing \(line.debugDescription) in \(lines)") }
        // The header is repeated on the page the table continues on.
        #expect(extraction.pages[1].hasPrefix("Token class Tokens Amount"))
        #expect(extraction.title == Self.hostileTitle)
        #expect(extraction.author == "Tally 東京")
    }

    @Test(
        .enabled(
            if: (Fixtures.hasPoppler && Fixtures.hasOptionalFonts) || Fixtures.toolsRequired,
            "poppler or fonts missing: \(install)"))
    func pdftotextReadsJapaneseAndEmoji() throws {
        guard let pdftotext = Fixtures.onPath("pdftotext") else {
            throw FixtureError("pdftotext is not installed: \(Self.installHint)")
        }
        let path = try Fixtures.temporaryPDF(try Self.receiptDocument().write(), name: "receipt.pdf")
        let result = try Fixtures.run(pdftotext, ["-enc", "UTF-8", path, "-"])
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
        let lines = result.stdout.split(whereSeparator: \.isNewline).map(String.init)
        for line in [Self.japanese, Self.emoji, "Receipt for an API call"] {
            #expect(lines.contains(line), "missing \(line.debugDescription) in \(lines.prefix(12))")
        }
    }

    @Test(.enabled(if: Fixtures.hasPypdf || Fixtures.toolsRequired, "pypdf missing: \(install)"))
    func pypdfReadsAMissingCharacterBack() throws {
        // U+10FFFD is in no font: drawn as .notdef, extracted as itself.
        let text = "Unknown \u{10FFFD} and \u{E000} here"
        var document = PDFDocument(info: PDFDocumentInfo(creationDate: Fixtures.date))
        document.addPage()
        document.pages[0].drawText(
            text, x: 50, y: 100, style: PDFTextStyle(font: FontChain(try Fixtures.dejaVu()), size: 12))
        let extraction = try Self.pypdf(try Fixtures.temporaryPDF(try document.write(), name: "missing.pdf"))
        #expect(extraction.pages == [text])
        #expect(extraction.problems.isEmpty, "\(extraction.problems)")
    }
}
