import TallyCore
import TallyPrice
import TallyHTTP
import TallyServices
import TallyGateway
import TallyWeb

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
}
