import Plot
import TallyCore
import TallyPrice

/// Settings → Prices, the catalog part: the revision in force and where it came from; for admins a form to paste or
/// upload a newer catalog file, its diff and impact (from `POST /api/v1/prices/catalog`, drawn by the script with
/// every value escaped) and an Apply button, offered only where applying is allowed (the instance's own organization).
extension SettingsPages {
    package enum CatalogSection {
        package struct Model: Sendable {
            package var revision: Instant
            package var origin: CatalogOrigin
            package var appliedAt: Instant?
            /// Whether this organization's admins may apply a catalog (it is the instance's own organization).
            package var mayApply: Bool

            package init(inForce: CatalogInForce, mayApply: Bool) {
                revision = inForce.revision
                origin = inForce.origin
                appliedAt = inForce.appliedAt
                self.mayApply = mayApply
            }
        }

        package static func load(store: some CatalogRevisionStore, pricer: CatalogPricer, page: SignedInPage)
            async throws -> Model
        {
            Model(
                inForce: pricer.inForce,
                mayApply: try await store.organizationIDs().first == page.organization.id)
        }

        static func origin(_ m: Model, zone: TimeZoneRules) -> String {
            switch m.origin {
            case .builtIn: "built into this version of Tally"
            case .stored: "applied \(SettingsPages.time(m.appliedAt, zone))"
            case .url: "fetched from TALLY_PRICES_URL \(SettingsPages.time(m.appliedAt, zone))"
            }
        }

        package static func render(_ page: SignedInPage, _ m: Model) -> Node<HTML.BodyContext> {
            .section(
                .class("card"), .id("catalog"), .attribute(named: "aria-labelledby", value: "catalog-heading"),
                .h2(.id("catalog-heading"), "Price catalog"),
                .p(
                    .id("catalog-revision"),
                    .text("Revision in force: \(m.revision.rfc3339), \(origin(m, zone: page.zone)).")),
                .p(
                    .class("muted"),
                    "A newer catalog file in Tally's own format (as prices/catalog.json) updates the list prices without upgrading Tally. New events are priced with it at once; stored costs change only when you re-price."
                ),
                .if(page.allows(.managePrices), form(m), else: onlyFor(.admin, "update the price catalog")))
        }

        static func form(_ m: Model) -> Node<HTML.BodyContext> {
            .group(
                .form(
                    .id("catalog-update"), .attribute(named: "data-catalog-api", value: "/api/v1/prices/catalog"),
                    .attribute(named: "novalidate", value: "novalidate"),
                    .p(
                        .class("form-error notice"), .attribute(named: "role", value: "alert"),
                        .attribute(named: "hidden", value: "hidden")),
                    .div(
                        .label(.for("catalog-file"), "Catalog file (optional: or paste it below)"),
                        .input(
                            .id("catalog-file"), .type(.file),
                            .attribute(named: "accept", value: ".json,application/json"))
                    ),
                    .div(
                        .label(.for("catalog-document"), "Catalog JSON"),
                        .textarea(
                            .id("catalog-document"), .attribute(named: "name", value: "document"),
                            .attribute(named: "rows", value: "8"), .attribute(named: "spellcheck", value: "false"))),
                    .button(.type(.submit), "Preview changes")),
                .div(
                    .id("catalog-diff"), .attribute(named: "hidden", value: "hidden"),
                    .attribute(named: "aria-live", value: "polite"),
                    .p(.id("catalog-summary")),
                    .div(
                        .class("table-wrap"),
                        .table(
                            .thead(.tr(.th("Change"), .th("Entry"), .th("Cell"), .th("Old"), .th("New"))),
                            .tbody(.id("catalog-rows")))),
                    .p(.id("catalog-impact")),
                    .if(
                        m.mayApply,
                        .button(
                            .id("apply-catalog"), .type(.button),
                            .data(
                                named: "confirm", value: "Make this catalog the one in force for the whole instance?"),
                            "Apply this catalog"),
                        else: .p(
                            .class("muted"),
                            "The catalog is the whole instance's: only admins of the instance's own organization (the one created first) can apply it."
                        ))))
        }
    }
}
