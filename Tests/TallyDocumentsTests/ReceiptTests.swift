import Foundation
import TallyCore
import Testing

@testable import TallyDocuments

@Suite struct ReceiptTests {
    @Test func textHasTheLinesTheTotalAndTheNotes() {
        let text = ReceiptText.render(Samples.receipt())
        for expected in [
            "Receipt R-7K2M9Q4X1B8D", "Date and time   2026-11-20 14:03:07 Europe/Paris (UTC+01:00)",
            "Issued          2026-11-20 14:05:00 Europe/Paris (UTC+01:00)",
            "Resolved model  claude-sonnet-4-5-20250929",
            "$3.00 / 1M tokens", "$0.30 / 1M tokens", "$3.75 / 1M tokens", "$0.0125 / request", "12,480", "$0.03744",
            "$0.0125", "Price entry anthropic/claude-sonnet-4-5@2026-11-01 (from 2026-11-01, list price)",
            "Modifiers: Batch API: 50% off every token class; Long context (over 200K input tokens)",
            Receipt.disclaimer,
        ] {
            #expect(text.contains(expected), "missing \(expected) in\n\(text)")
        }
        let total = text.split(separator: "\n").first { $0.hasPrefix("Total") }
        #expect(total?.hasSuffix("$0.09506") == true)
        #expect(!text.contains("Unpriced"))
    }

    @Test func unpricedReceiptHasNoTotal() {
        let text = ReceiptText.render(Samples.receipt(priced: false))
        #expect(text.contains("Unpriced: no price entry covers model acme-large-2 on 2026-11-20"))
        #expect(!text.contains("Total"))
        #expect(!text.contains("Price entry"))
        var r = Samples.receipt(priced: false)
        r.unpricedReason = nil
        #expect(ReceiptText.render(r).contains("Unpriced: no price entry covers this model"))
    }

    @Test func unitPricesReadLikeAmounts() {
        #expect(ReceiptContent.unitPrice("2.5", tokenClass: "input") == "$2.50 / 1M tokens")
        #expect(ReceiptContent.unitPrice("0.075", tokenClass: "cached_input") == "$0.075 / 1M tokens")
        #expect(ReceiptContent.unitPrice("0.01", tokenClass: "request") == "$0.01 / request")
        #expect(ReceiptContent.unitPrice("1e-3", tokenClass: "input") == "1e-3 USD / 1M tokens")
    }

    @Test(
        .enabled(
            if: (Tools.hasQPDF && Tools.hasPypdf && Tools.hasFallbackFonts) || Tools.required,
            "qpdf, pypdf or fonts missing: \(Tools.install)"))
    func pdfReadsBackAsTheText() throws {
        let fonts = try DocumentFonts.standard()
        for (receipt, name) in [
            (Samples.receipt(project: "経理チーム 🚀"), "receipt.pdf"),
            (Samples.receipt(priced: false), "receipt-unpriced.pdf"),
        ] {
            let bytes = try ReceiptPDF.render(receipt, fonts: fonts)
            try Tools.preview(bytes, name: name)
            #expect(try ReceiptPDF.render(receipt, fonts: fonts) == bytes)
            #expect(try Tools.qpdfCheck(bytes, name: name) == nil)
            let extraction = try Tools.pypdf(bytes, name: name)
            #expect(extraction.problems.isEmpty, "\(extraction.problems)")
            #expect(extraction.pages.count == 1)
            let c = ReceiptContent(receipt)
            let text = extraction.text
            for (_, value) in c.facts { #expect(text.contains(value), "missing \(value)") }
            for line in c.lines { for cell in line { #expect(text.contains(cell), "missing \(cell)") } }
            for note in c.notes { #expect(text.contains(note), "missing \(note)") }
            if let total = c.total { #expect(text.contains("Total \(total)")) }
            if let unpriced = c.unpriced { #expect(text.contains(unpriced)) }
            #expect(text.contains(Receipt.disclaimer))
            #expect(text.contains("Page 1 of 1"))
        }
    }

    @Test func hostileReceiptRendersWithoutCrashing() throws {
        var r = Samples.receipt()
        r.model = String(repeating: "m\u{0}", count: 10_000)
        r.user = "\u{1B}]0;owned\u{7}"
        r.unpricedReason = String(repeating: "why ", count: 3_000)
        r.total = nil
        r.modifiers = [String(repeating: "🚀", count: 5_000), "\u{0}"]
        r.lines += (0..<60).map {
            ReceiptLine(
                tokenClass: "input", label: "line \($0)\u{0}", quantity: .max, unitPrice: "x", amount: USD(nanos: .min))
        }
        let bytes = try ReceiptPDF.render(r, fonts: try DocumentFonts.standard())
        try Tools.preview(bytes, name: "receipt-hostile.pdf")
        if Tools.hasQPDF { #expect(try Tools.qpdfCheck(bytes, name: "receipt-hostile.pdf") == nil) }
        #expect(!ReceiptText.render(r).contains("\u{0}"))
    }
}
