import TallyCore
import TallyPrice

/// The JSON shapes of price entries and cost breakdowns. Every cost is labelled an estimate with its price date.
enum PriceJSON {
    static func writePrices(_ set: PriceSet, into w: inout JSONWriter) {
        w.beginObject()
        for c in TokenClass.allCases { if let r = set.rates[c] { w.field(c.rawValue, r.decimalString) } }
        w.endObject()
    }

    /// The entry in the catalog's own shape (what `POST /api/v1/prices` accepts).
    static func writeDefinition(_ e: PriceEntry, into w: inout JSONWriter) {
        w.beginObject()
        w.field("provider", e.provider)
        w.field("model", e.model)
        w.key("aliases"); w.beginArray(); for a in e.aliases { w.string(a) }; w.endArray()
        w.field("from", e.from.description)
        w.field("to", e.to?.description)
        w.field("source", e.source)
        w.key("prices"); writePrices(e.prices, into: &w)
        w.field("batch", e.batch?.decimalString)
        w.key("service_tiers")
        w.beginObject()
        for name in e.serviceTiers.keys.sorted() { w.key(name); writePrices(e.serviceTiers[name]!, into: &w) }
        w.endObject()
        w.key("tiers")
        w.beginArray()
        for t in e.contextTiers {
            w.beginObject(); w.field("above_input_tokens", t.aboveInputTokens); w.key("prices"); writePrices(t.prices, into: &w); w.endObject()
        }
        w.endArray()
        w.field("per_request_usd", e.perRequest?.decimalString)
        w.field("note", e.note)
        w.endObject()
    }

    static func writeEntry(_ e: PriceEntry, into w: inout JSONWriter) {
        var d = JSONWriter()
        writeDefinition(e, into: &d)
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
}
