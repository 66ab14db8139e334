import Plot
import TallyCore
import TallyPrice

/// Settings → Prices: models seen without a price, the organization's own prices, re-pricing, and the built-in catalog.
extension SettingsPages {
    package enum PricesTab {
        package struct Model: Sendable {
            package var own: [PriceEntry]
            package var builtIn: [PriceEntry]
            package var unpriced: [UnpricedModel]
            package var catalog: CatalogSection.Model
        }

        package static func load(
            store: some PriceStore & CatalogRevisionStore, pricer: CatalogPricer, page: SignedInPage, now: Instant
        ) async throws -> Model {
            let org = page.organization.id
            let today = CivilDate(daysSinceEpoch: floorDiv(now.seconds, 86_400))
            let builtIn = SettingsPages.inForce(pricer.catalog.entries, on: today)
            let own = pricer.organizationEntries(org).sorted { ($0.model, $0.from) < ($1.model, $1.from) }
            let unpriced = try await store.unpricedModels(
                organizationID: org, from: nil, to: nil, projectIDs: page.principal.projectScope)
            let catalog = try await CatalogSection.load(store: store, pricer: pricer, page: page)
            return Model(own: own, builtIn: builtIn, unpriced: unpriced, catalog: catalog)
        }

        package static func render(_ page: SignedInPage, _ m: Model) -> String {
            SettingsPages.prices(page, own: m.own, builtIn: m.builtIn, unpriced: m.unpriced, catalog: m.catalog)
        }
    }

    package static func prices(
        _ page: SignedInPage, own: [PriceEntry], builtIn: [PriceEntry], unpriced: [UnpricedModel],
        catalog: CatalogSection.Model
    ) -> String {
        let admin = page.allows(.managePrices)
        let today = page.zone.localDate(of: .now)
        return self.page(
            page, .prices,
            EstimateNote.node(),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "unpriced-heading"),
                .h2(.id("unpriced-heading"), "Models without a price"),
                .if(
                    unpriced.isEmpty, .p(.class("ok"), "Every model seen so far had a price."),
                    else: .group(
                        .p(
                            .class("muted"),
                            "These events count tokens but no cost. Add a price below, then re-price their range."),
                        .div(
                            .class("table-wrap"),
                            .table(
                                .id("unpriced"),
                                .thead(
                                    .tr(
                                        .th("Provider"), .th("Model"), .th(.class("num"), "Requests"),
                                        .th(.class("num"), "Input tokens"),
                                        .th(.class("num"), "Output tokens"), .th("First seen"), .th("Last seen"))),
                                .tbody(
                                    .forEach(unpriced) { u in
                                        .tr(
                                            .td(.text(u.provider)), .td(.text(u.model)),
                                            .td(.class("num"), .text(Format.integer(u.requests))),
                                            .td(.class("num"), .text(Format.integer(u.inputTokens))),
                                            .td(.class("num"), .text(Format.integer(u.outputTokens))),
                                            .td(.text(Format.localTime(u.firstSeen, zone: page.zone))),
                                            .td(.text(Format.localTime(u.lastSeen, zone: page.zone))))
                                    })))))),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "own-heading"),
                .h2(.id("own-heading"), "This organization's prices"),
                .p(
                    .class("muted"),
                    "From their start date they win over the built-in catalog for matching events; stored costs change only when you re-price."
                ),
                .if(
                    own.isEmpty, .p("None: the built-in catalog prices everything."),
                    else:
                        .div(
                            .class("table-wrap"),
                            .table(
                                .id("org-prices"),
                                .thead(
                                    .tr(
                                        .th("Provider"), .th("Model"), .th("From"), .th("To"),
                                        .th(.class("num"), "Input / 1M"),
                                        .th(.class("num"), "Cached / 1M"), .th(.class("num"), "Output / 1M"),
                                        .th("Actions"))),
                                .tbody(
                                    .forEach(own) { e in
                                        .tr(
                                            .data(named: "price-id", value: e.id),
                                            .td(.text(e.provider ?? "any")), .td(.text(e.model)),
                                            .td(.text(e.from.description)), .td(.text(e.to?.description ?? "—")),
                                            .td(.class("num"), .text(rate(e, .input))),
                                            .td(.class("num"), .text(rate(e, .cachedInput))),
                                            .td(.class("num"), .text(rate(e, .output))),
                                            .td(
                                                .if(
                                                    admin && e.to == nil,
                                                    actionButton(
                                                        "End today", api: "DELETE /api/v1/prices/\(e.id)?on=\(today)",
                                                        confirm: "End this price today?", action: "end"))))
                                    })))),
                .if(
                    admin,
                    .group(
                        .h2("Add a price"),
                        apiForm(
                            "add-price", "POST /api/v1/prices", submit: "Add price",
                            .div(
                                .class("row"),
                                field(
                                    "add-price", "Provider", name: "provider",
                                    hint: "openai, anthropic, google, azure_openai…; empty: any provider"),
                                field("add-price", "Model", name: "model", required: true),
                                field(
                                    "add-price", "From", name: "from", type: .date, value: today.description,
                                    required: true)),
                            .div(
                                .class("row"),
                                field("add-price", "Input USD / 1M", name: "prices.input", required: true),
                                field("add-price", "Cached input USD / 1M", name: "prices.cached_input"),
                                field("add-price", "Output USD / 1M", name: "prices.output", required: true)))),
                    else: onlyFor(.admin, "change prices"))),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "reprice-heading"),
                .h2(.id("reprice-heading"), "Re-price a range"),
                .p(
                    .class("muted"),
                    "Events keep the price they were stored with. After a price change, preview what re-pricing would change, then apply it."
                ),
                .if(
                    admin,
                    .group(
                        .form(
                            .id("reprice"), .attribute(named: "data-api", value: "POST /api/v1/prices/recompute"),
                            .attribute(named: "data-on-success", value: "reprice-diff"),
                            .attribute(named: "data-extra", value: #"{"dry_run":true}"#),
                            .p(
                                .class("form-error notice"), .attribute(named: "role", value: "alert"),
                                .attribute(named: "hidden", value: "hidden")),
                            .div(
                                .class("row"),
                                field(
                                    "reprice", "From (UTC date)", name: "from", type: .date,
                                    value: today.addingDays(-30).description, required: true),
                                field(
                                    "reprice", "To (UTC date, exclusive)", name: "to", type: .date,
                                    value: today.addingDays(1).description, required: true)),
                            .button(.type(.submit), "Preview changes")),
                        .div(
                            .id("reprice-diff"), .attribute(named: "hidden", value: "hidden"),
                            .attribute(named: "aria-live", value: "polite"),
                            .p(.id("reprice-summary")),
                            .div(
                                .class("table-wrap"),
                                .table(
                                    .thead(
                                        .tr(
                                            .th("Provider"), .th("Model"), .th(.class("num"), "Changed"),
                                            .th(.class("num"), "Cost before"), .th(.class("num"), "Cost after"))),
                                    .tbody(.id("reprice-rows")))),
                            .button(
                                .id("apply-reprice"), .type(.button),
                                .data(named: "api", value: "POST /api/v1/prices/recompute"),
                                .data(named: "confirm", value: "Rewrite the stored costs of these events?"),
                                "Apply these changes"))),
                    else: onlyFor(.admin, "re-price events"))),
            CatalogSection.render(page, catalog),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "builtin-heading"),
                .h2(.id("builtin-heading"), "Built-in catalog"),
                .element(
                    named: "details",
                    nodes: [
                        .element(
                            named: "summary", text: "\(builtIn.count) list prices in force today, with their sources"),
                        .div(
                            .class("table-wrap"),
                            .table(
                                .id("builtin-prices"),
                                .thead(
                                    .tr(
                                        .th("Provider"), .th("Model"), .th("From"), .th(.class("num"), "Input / 1M"),
                                        .th(.class("num"), "Cached / 1M"),
                                        .th(.class("num"), "Output / 1M"), .th("Checked"))),
                                .tbody(
                                    .forEach(builtIn) { e in
                                        .tr(
                                            .td(.text(e.provider ?? "any")),
                                            .td(
                                                // A source from an applied file links only when it is a web page.
                                                .unwrap(
                                                    e.source.flatMap {
                                                        $0.hasPrefix("https://") || $0.hasPrefix("http://") ? $0 : nil
                                                    },
                                                    {
                                                        .a(
                                                            .href($0), .attribute(named: "rel", value: "noreferrer"),
                                                            .text(e.model))
                                                    }, else: .text(e.model))),
                                            .td(.text(e.from.description)), .td(.class("num"), .text(rate(e, .input))),
                                            .td(.class("num"), .text(rate(e, .cachedInput))),
                                            .td(.class("num"), .text(rate(e, .output))),
                                            .td(.text(e.checked?.description ?? "—")))
                                    }))),
                    ]))
        )
    }

    package static func inForce(_ entries: [PriceEntry], on day: CivilDate) -> [PriceEntry] {
        let current = entries.filter { entry in
            guard entry.from <= day else { return false }
            guard let end = entry.to else { return true }
            return day < end
        }
        return current.sorted { a, b in
            let pa = a.provider ?? "", pb = b.provider ?? ""
            return pa == pb ? a.model < b.model : pa < pb
        }
    }

    package static func rate(_ e: PriceEntry, _ c: TokenClass) -> String {
        e.prices.rates[c].map { "$" + $0.decimalString } ?? "—"
    }
}
