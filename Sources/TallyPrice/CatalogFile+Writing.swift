import TallyCore

/// Writing an entry back in the catalog's own shape: what `CatalogFile.parseEntry` reads, what organizations' prices
/// are stored as and what `POST /api/v1/prices` accepts.
extension CatalogFile {
    public static func writePrices(_ set: PriceSet, into w: inout JSONWriter) {
        w.beginObject()
        for c in TokenClass.allCases { if let r = set.rates[c] { w.field(c.rawValue, r.decimalString) } }
        w.endObject()
    }

    /// The entry in the catalog's own shape (what `POST /api/v1/prices` accepts).
    public static func writeDefinition(_ e: PriceEntry, into w: inout JSONWriter) {
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
            w.beginObject(); w.field("above_input_tokens", t.aboveInputTokens); w.key("prices");
            writePrices(t.prices, into: &w); w.endObject()
        }
        w.endArray()
        w.field("per_request_usd", e.perRequest?.decimalString)
        w.field("note", e.note)
        w.endObject()
    }
}
