import TallyCore

/// Reads the catalog data format (see docs/pricing.md); every problem names the entry and the field.
public enum CatalogFile {
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The formats this binary reads: 1, and 2 (dated aliases, batch prices, service-tier multipliers, service tiers
    /// of long-context tiers). A newer file may carry fields this binary would drop, which would misprice: refused.
    public static let readableFormats: ClosedRange<Int> = 1...2

    /// The fields of an entry. Any other is refused: a field a newer catalog added is not silently dropped.
    public static let entryFields: Set<String> = [
        "id", "provider", "model", "aliases", "from", "to", "source", "checked", "prices", "batch", "batch_prices",
        "service_tiers", "service_tier_multipliers", "tiers", "per_request_usd", "note",
    ]

    public static func parse(_ bytes: [UInt8]) throws -> [PriceEntry] {
        let root: JSONValue
        do { root = try JSONParser.parse(bytes) } catch {
            throw Problem(description: "catalog: malformed JSON at byte \(error.offset): \(error.reason)")
        }
        try checkFormat(root["format"])
        guard case .array(let items)? = root["entries"] else {
            throw Problem(description: "catalog: no \"entries\" array")
        }
        var entries: [PriceEntry] = []
        var ids = Set<String>()
        for (i, item) in items.enumerated() {
            let entry = try parseEntry(item, origin: .builtIn, at: "entries[\(i)]")
            guard ids.insert(entry.id).inserted else {
                throw Problem(description: "entries[\(i)].id: duplicate id \(entry.id)")
            }
            entries.append(entry)
        }
        return entries
    }

    static func checkFormat(_ value: JSONValue?) throws {
        switch value {
        case nil, .null?: return
        case .number(let n)? where Int(n).map({ readableFormats.contains($0) }) == true: return
        case .number(let n)? where Int(n).map { $0 > readableFormats.upperBound } == true:
            throw Problem(
                description: "format: \(n) is newer than this Tally reads (formats 1 and 2): upgrade Tally to use it")
        default: throw Problem(description: "format: must be 1 or 2")
        }
    }

    /// One entry; organization entries use the same shape as the catalog's. `storedBeforeTierRates` reads an
    /// organization's definition stored before long-context tiers had their own service-tier and batch rates: a tier
    /// without them takes the entry's, which prices it as it was priced when stored (a service tier's rates applied
    /// whatever the prompt size), instead of refusing it and dropping the organization's price.
    public static func parseEntry(
        _ value: JSONValue, origin: PriceEntry.Origin, at path: String, storedBeforeTierRates: Bool = false
    ) throws -> PriceEntry {
        func fail(_ field: String, _ reason: String) -> Problem { Problem(description: "\(path).\(field): \(reason)") }
        guard case .object(let members) = value else { throw Problem(description: "\(path): must be an object") }
        if let unknown = members.first(where: { !entryFields.contains($0.0) }) {
            throw fail(unknown.0, "unknown field; an entry has " + entryFields.sorted().joined(separator: ", "))
        }
        let fields = Fields(value: value, path: path)
        let model = try fields.string("model")!.lowercased()
        let from = try fields.date("from", required: true)!
        let to = try fields.date("to", required: false)
        if let to, to <= from { throw fail("to", "must be after from") }
        let aliases = try parseAliases(value["aliases"], at: path + ".aliases")
        guard let pricesValue = value["prices"] else { throw fail("prices", "is required") }
        let prices = try priceSet(pricesValue, at: path + ".prices")
        var batch: Multiplier?
        if let b = try fields.string("batch", required: false) {
            guard let m = Multiplier(decimal: b) else {
                throw fail("batch", "must be a decimal multiplier such as \"0.5\"")
            }
            batch = m
        }
        let batchPrices = try rates(value["batch_prices"], at: path + ".batch_prices")
        if !batchPrices.isEmpty, batch == nil {
            throw fail("batch_prices", "needs a batch multiplier for the classes it does not name")
        }
        let serviceTiers = try serviceTierSets(value["service_tiers"], at: path + ".service_tiers")
        let multipliers = try serviceTierMultipliers(value["service_tier_multipliers"], at: path)
        if let both = multipliers.keys.sorted().first(where: { serviceTiers[$0] != nil }) {
            throw fail("service_tier_multipliers.\(both)", "is already priced in service_tiers")
        }
        let contextTiers = try parseContextTiers(
            value["tiers"], at: path, serviceTiers: serviceTiers, batchPrices: batchPrices,
            inheriting: storedBeforeTierRates)
        var perRequest: USD?
        if let p = try fields.string("per_request_usd", required: false) {
            guard let usd = USD(decimal: p), usd.nanos >= 0 else {
                throw fail("per_request_usd", "must be a decimal of US dollars")
            }
            perRequest = usd
        }
        let provider = try fields.string("provider", required: origin == .builtIn)?.lowercased()
        let id = try fields.string("id", required: false) ?? "\(provider ?? "any"):\(model):\(from)"
        return PriceEntry(
            id: id, origin: origin, provider: provider, model: model, aliases: aliases, from: from, to: to,
            source: try fields.string("source", required: origin == .builtIn),
            checked: try fields.date("checked", required: false), prices: prices, batch: batch,
            batchPrices: batchPrices, serviceTiers: serviceTiers, serviceTierMultipliers: multipliers,
            contextTiers: contextTiers, perRequest: perRequest, note: try fields.string("note", required: false)
        )
    }

    /// Typed reads of an object's fields, each problem named by its path.
    struct Fields {
        var value: JSONValue
        var path: String

        func fail(_ field: String, _ reason: String) -> Problem { Problem(description: "\(path).\(field): \(reason)") }

        func string(_ field: String, required: Bool = true) throws -> String? {
            switch value[field] {
            case .string(let s)?:
                // Ids, models and notes reach pages, logs and the CLI's table.
                if s.containsControlCharacters { throw fail(field, "must not contain control characters") }
                return s
            case nil, .null?: if required { throw fail(field, "is required") } else { return nil }
            default: throw fail(field, "must be a string")
            }
        }

        func date(_ field: String, required: Bool) throws -> CivilDate? {
            guard let s = try string(field, required: required) else { return nil }
            guard let d = CivilDate(parsing: s) else { throw fail(field, "must be a date YYYY-MM-DD") }
            return d
        }
    }
}
