import TallyCore

/// Writing an entry back in the catalog's own shape: what `CatalogFile.parseEntry` reads, what organizations' prices
/// are stored as and what `POST /api/v1/prices` accepts.
extension CatalogFile {
    public static func writePrices(_ set: PriceSet, into w: inout JSONWriter) {
        writeRates(set.rates, into: &w)
    }

    static func writeRates(_ rates: [TokenClass: Rate], into w: inout JSONWriter) {
        w.beginObject()
        for c in TokenClass.allCases { if let r = rates[c] { w.field(c.rawValue, r.decimalString) } }
        w.endObject()
    }

    static func writeServiceTiers(_ tiers: [String: PriceSet], into w: inout JSONWriter) {
        w.beginObject()
        for name in tiers.keys.sorted() { w.key(name); writePrices(tiers[name]!, into: &w) }
        w.endObject()
    }

    /// An undated alias as its name, a dated one as `{"name", "from", "to"}` (only the days it has).
    static func writeAlias(_ a: PriceEntry.Alias, into w: inout JSONWriter) {
        guard a.isDated else { return w.string(a.name) }
        w.beginObject()
        w.field("name", a.name)
        if let from = a.from { w.field("from", from.description) }
        if let to = a.to { w.field("to", to.description) }
        w.endObject()
    }

    /// The entry in the catalog's own shape (what `POST /api/v1/prices` accepts).
    public static func writeDefinition(_ e: PriceEntry, into w: inout JSONWriter) {
        w.beginObject()
        w.field("provider", e.provider)
        w.field("model", e.model)
        w.key("aliases"); w.beginArray(); for a in e.aliases { writeAlias(a, into: &w) }; w.endArray()
        w.field("from", e.from.description)
        w.field("to", e.to?.description)
        w.field("source", e.source)
        w.key("prices"); writePrices(e.prices, into: &w)
        w.field("batch", e.batch?.decimalString)
        w.key("batch_prices"); writeRates(e.batchPrices, into: &w)
        w.key("service_tiers"); writeServiceTiers(e.serviceTiers, into: &w)
        w.key("service_tier_multipliers")
        w.beginObject()
        for name in e.serviceTierMultipliers.keys.sorted() {
            w.field(name, e.serviceTierMultipliers[name]!.decimalString)
        }
        w.endObject()
        w.key("tiers")
        w.beginArray()
        for t in e.contextTiers {
            w.beginObject()
            w.field("above_input_tokens", t.aboveInputTokens)
            w.key("prices"); writePrices(t.prices, into: &w)
            w.key("batch_prices"); writeRates(t.batchPrices, into: &w)
            w.key("service_tiers"); writeServiceTiers(t.serviceTiers, into: &w)
            w.endObject()
        }
        w.endArray()
        w.field("per_request_usd", e.perRequest?.decimalString)
        w.field("note", e.note)
        w.endObject()
    }
}
