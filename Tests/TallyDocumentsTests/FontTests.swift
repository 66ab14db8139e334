import Foundation
import TallyPDF
import Testing

@testable import TallyDocuments

@Suite struct FontTests {
    /// The generated literal decodes to exactly the committed font files (scripts/embed-data --check covers the
    /// other direction: the literal is what the script makes from them).
    @Test func embeddedFontsAreTheCommittedFiles() throws {
        let fonts = Tools.packageRoot.appendingPathComponent("fonts")
        for (literal, file) in [
            (EmbeddedFonts.dejaVuSans, "DejaVuSans.ttf"), (EmbeddedFonts.dejaVuSansBold, "DejaVuSans-Bold.ttf"),
        ] {
            let committed = try Data(contentsOf: fonts.appendingPathComponent(file))
            #expect(Base64.decode(literal) == Array(committed), "\(file)")
        }
    }

    @Test func standardFontsLoadOnceWithTheFallbacksThatExist() throws {
        let fonts = try DocumentFonts.standard()
        #expect(fonts.regular.primary.postScriptName == "DejaVuSans")
        #expect(fonts.bold.primary.postScriptName == "DejaVuSans-Bold")
        let present = DocumentFonts.fallbackPaths.filter { FileManager.default.fileExists(atPath: $0) }
        #expect(fonts.regular.fonts.count == 1 + present.count)
        #expect(try DocumentFonts.standard().regular.primary === fonts.regular.primary)
        if Tools.hasFallbackFonts {
            #expect(fonts.regular.fonts.contains { $0.hasGlyph(for: "経") })
            #expect(fonts.regular.fonts.contains { $0.hasGlyph(for: "🚀") })
        }
    }

    @Test func concurrentRenderingSharesTheFonts() async throws {
        let bytes = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<4 {
                group.addTask { try ReceiptPDF.render(Samples.receipt(), fonts: try DocumentFonts.standard()) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(bytes.map { $0.count }).count == 1)
        #expect(bytes.allSatisfy { $0 == bytes[0] })
    }

    @Test func missingFilesReadAsNil() {
        #expect(DocumentFonts.readFile("/nonexistent/font.ttf") == nil)
        #expect(DocumentFonts.readFile("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")?.count ?? 0 > 100_000)
    }
}
