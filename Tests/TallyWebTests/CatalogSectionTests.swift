import Foundation
import Plot
import TallyCore
import TallyPrice
import Testing

@testable import TallyWeb

/// Settings → Prices, the price catalog part: the revision in force, the update form for admins, Apply only for the
/// instance's own organization, and entries from an applied file escaped wherever the page shows them.
@Suite struct CatalogSectionTests {
    static let hostile = #"x"><script>alert(1)</script>"#

    /// A stored revision whose entry carries markup in its model name and source, as a hostile file might.
    static func storedHostile() throws -> CatalogInForce {
        let text = """
            {"format": 1, "revision": "2026-12-10T00:00:00Z", "entries": [{"id": "openai:evil:2026-12-01",
              "provider": "openai", "model": \(JSONWriter.quoted(hostile)), "from": "2026-12-01", "to": null,
              "source": \(JSONWriter.quoted("javascript:alert(1)\"><b>")), "checked": "2026-12-01",
              "prices": {"input": "1.00", "output": "2.00"}}]}
            """
        return CatalogInForce(
            document: try CatalogDocument.parse(Array(text.utf8)), origin: .stored,
            appliedAt: Instant(rfc3339: "2026-12-10T08:30:00Z"), appliedBy: "user:ada@example.com",
            sha256: String(repeating: "0", count: 64))
    }

    @Test func adminOfTheInstanceSeesTheFormAndApply() throws {
        let page = Sample.page(.admin, section: .settings)
        let m = SettingsPages.CatalogSection.Model(inForce: try Self.storedHostile(), mayApply: true)
        let html = SettingsPages.CatalogSection.render(page, m).render(indentedBy: nil)
        try Snapshot.check(html, "settings-prices-catalog")
        #expect(html.contains("Revision in force: 2026-12-10T00:00:00Z, applied 2026-12-10 09:30"))
        #expect(html.contains(#"id="catalog-update""#) && html.contains(#"id="apply-catalog""#))
    }

    @Test func adminOfAnotherOrganizationMayPreviewOnly() throws {
        let page = Sample.page(.admin, section: .settings)
        let html = SettingsPages.CatalogSection.render(page, .init(inForce: .builtIn, mayApply: false))
            .render(indentedBy: nil)
        #expect(html.contains(#"id="catalog-update""#))
        #expect(!html.contains(#"id="apply-catalog""#))
        #expect(html.contains("only admins of the instance's own organization (the one created first) can apply it"))
        #expect(html.contains("built into this version of Tally"))
    }

    @Test func viewerSeesTheRevisionOnly() throws {
        let page = Sample.page(.viewer, section: .settings)
        let html = SettingsPages.CatalogSection.render(page, .init(inForce: .builtIn, mayApply: true))
            .render(indentedBy: nil)
        #expect(html.contains(#"id="catalog-revision""#))
        #expect(!html.contains(#"id="catalog-update""#) && !html.contains(#"id="apply-catalog""#))
        #expect(html.contains("Only admins and above can update the price catalog."))
    }

    /// The applied file's entries are listed on the page with the rest of the catalog: escaped, never markup.
    @Test func entriesFromAnAppliedFileAreEscaped() throws {
        let inForce = try Self.storedHostile()
        let page = Sample.page(.admin, section: .settings)
        let html = SettingsPages.prices(
            page, own: [], builtIn: inForce.catalog.entries, unpriced: [],
            catalog: .init(inForce: inForce, mayApply: true))
        #expect(!html.contains("<script>alert(1)"))
        #expect(!html.contains(#""><b>"#))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!html.contains("javascript:"))
    }
}
