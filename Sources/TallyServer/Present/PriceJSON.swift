import TallyCore
import TallyPrice
import TallyServices

/// The JSON shapes of price entries and cost breakdowns. Every cost is labelled an estimate with its price date.
enum PriceJSON {
    static func writeEntry(_ e: PriceEntry, into w: inout JSONWriter) {
        var d = JSONWriter()
        CatalogFile.writeDefinition(e, into: &d)
        w.beginObject()
        w.field("id", e.id)
        if case .organization = e.origin { w.field("origin", "organization") } else { w.field("origin", "built_in") }
        w.field("checked", e.checked?.description)
        w.key("definition")
        w.raw(d.text)
        w.endObject()
    }

    static func entry(_ e: PriceEntry) -> String {
        var w = JSONWriter()
        writeEntry(e, into: &w)
        return w.text
    }

    /// `cost_usd`, `price_id`, `model_resolved`, the modifiers and one line per token class.
    static func writeBreakdown(_ b: CostBreakdown, into w: inout JSONWriter) {
        w.field("cost_usd", b.cost.decimalString)
        w.field("price_id", b.entry.id)
        w.field("model_resolved", b.modelResolved)
        w.field("price_provider", b.entry.provider)
        w.field("price_effective_from", b.entry.from.description)
        w.field("price_source", b.entry.source)
        w.field("price_checked", b.entry.checked?.description)
        w.field("estimate", true)
        w.key("modifiers"); w.beginArray(); for m in b.modifiers { w.string(m) }; w.endArray()
        w.key("lines")
        w.beginArray()
        for line in b.lines {
            w.beginObject()
            w.field("token_class", line.tokenClass)
            w.field("tokens", line.tokens)
            w.field(line.tokenClass == "request" ? "usd_per_request" : "usd_per_million", line.rate)
            w.field("cost_usd", line.cost.decimalString)
            w.endObject()
        }
        w.endArray()
    }

    /// `GET /api/v1/prices`: documented as a page, always the last (`next_cursor` null).
    static func entries(_ entries: [PriceEntry]) -> String {
        ListJSON.page(entries, nextCursor: nil, writeEntry)
    }

    /// `POST /api/v1/prices/quote`: the breakdown, or why there is none (unpriced, not $0).
    static func quote(_ breakdown: CostBreakdown?, of event: UsageEvent) -> String {
        var w = JSONWriter()
        w.beginObject()
        if let breakdown {
            writeBreakdown(breakdown, into: &w)
        } else {
            w.field("cost_usd", nil as String?)
            w.field("price_id", nil as String?)
            w.field("model_resolved", nil as String?)
            w.field("estimate", true)
            w.field(
                "reason",
                "no price entry covers \(event.provider) model '\(event.model)' at \(event.timestamp.rfc3339): unpriced, not $0"
            )
            w.key("lines"); w.beginArray(); w.endArray()
        }
        w.endObject()
        return w.text
    }

    /// `GET /api/v1/prices/unpriced`: documented as a page, always the last (`next_cursor` null).
    static func unpriced(_ models: [UnpricedModel]) -> String {
        ListJSON.page(models, nextCursor: nil) { m, w in
            w.beginObject()
            w.field("provider", m.provider)
            w.field("model", m.model)
            w.field("requests", m.requests)
            w.field("input_tokens", m.inputTokens)
            w.field("output_tokens", m.outputTokens)
            w.field("first_seen", m.firstSeen.rfc3339)
            w.field("last_seen", m.lastSeen.rfc3339)
            w.endObject()
        }
    }
}
