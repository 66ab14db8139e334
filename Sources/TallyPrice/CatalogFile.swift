import TallyCore

/// Reads the catalog data format (see docs/pricing.md); every problem names the entry and the field.
public enum CatalogFile {
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static func parse(_ bytes: [UInt8]) throws -> [PriceEntry] {
        let root: JSONValue
        do { root = try JSONParser.parse(bytes) } catch {
            throw Problem(description: "catalog: malformed JSON at byte \(error.offset): \(error.reason)")
        }
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

    /// One entry; organization entries use the same shape as the catalog's.
    public static func parseEntry(_ value: JSONValue, origin: PriceEntry.Origin, at path: String) throws -> PriceEntry {
        func fail(_ field: String, _ reason: String) -> Problem { Problem(description: "\(path).\(field): \(reason)") }
        func string(_ field: String, required: Bool = true) throws -> String? {
            switch value[field] {
            case .string(let s)?: return s
            case nil, .null?: if required { throw fail(field, "is required") } else { return nil }
            default: throw fail(field, "must be a string")
            }
        }
        func date(_ field: String, required: Bool) throws -> CivilDate? {
            guard let s = try string(field, required: required) else { return nil }
            guard let d = CivilDate(parsing: s) else { throw fail(field, "must be a date YYYY-MM-DD") }
            return d
        }
        let model = try string("model")!.lowercased()
        let from = try date("from", required: true)!
        let to = try date("to", required: false)
        if let to, to <= from { throw fail("to", "must be after from") }
        var aliases: [String] = []
        if case .array(let list)? = value["aliases"] {
            for a in list {
                guard case .string(let s) = a else { throw fail("aliases", "must be strings") }
                aliases.append(s.lowercased())
            }
        }
        guard let pricesValue = value["prices"] else { throw fail("prices", "is required") }
        let prices = try priceSet(pricesValue, at: path + ".prices")
        var batch: Multiplier?
        if let b = try string("batch", required: false) {
            guard let m = Multiplier(decimal: b) else {
                throw fail("batch", "must be a decimal multiplier such as \"0.5\"")
            }
            batch = m
        }
        var serviceTiers: [String: PriceSet] = [:]
        if case .object(let tiers)? = value["service_tiers"] {
            for (name, set) in tiers { serviceTiers[name] = try priceSet(set, at: "\(path).service_tiers.\(name)") }
        }
        var contextTiers: [PriceEntry.ContextTier] = []
        if case .array(let tiers)? = value["tiers"] {
            for (k, tier) in tiers.enumerated() {
                guard case .number(let n)? = tier["above_input_tokens"], let above = Int64(n), above > 0 else {
                    throw fail("tiers[\(k)].above_input_tokens", "must be a positive integer")
                }
                guard let set = tier["prices"] else { throw fail("tiers[\(k)].prices", "is required") }
                contextTiers.append(
                    .init(aboveInputTokens: above, prices: try priceSet(set, at: "\(path).tiers[\(k)].prices")))
            }
            contextTiers.sort { $0.aboveInputTokens > $1.aboveInputTokens }
        }
        var perRequest: USD?
        if let p = try string("per_request_usd", required: false) {
            guard let usd = USD(decimal: p), usd.nanos >= 0 else {
                throw fail("per_request_usd", "must be a decimal of US dollars")
            }
            perRequest = usd
        }
        let provider = try string("provider", required: origin == .builtIn)?.lowercased()
        let id = try string("id", required: false) ?? "\(provider ?? "any"):\(model):\(from)"
        return PriceEntry(
            id: id, origin: origin, provider: provider, model: model, aliases: aliases, from: from, to: to,
            source: try string("source", required: origin == .builtIn), checked: try date("checked", required: false),
            prices: prices, batch: batch, serviceTiers: serviceTiers, contextTiers: contextTiers,
            perRequest: perRequest, note: try string("note", required: false)
        )
    }

    static func priceSet(_ value: JSONValue, at path: String) throws -> PriceSet {
        guard case .object(let members) = value else {
            throw Problem(description: "\(path): must be an object of token class → USD per 1M tokens")
        }
        var rates: [TokenClass: Rate] = [:]
        for (key, v) in members {
            guard let c = TokenClass(rawValue: key) else {
                throw Problem(
                    description: "\(path).\(key): unknown token class; use "
                        + TokenClass.allCases.map(\.rawValue).joined(separator: ", "))
            }
            guard case .string(let s) = v, let rate = Rate(decimal: s) else {
                throw Problem(
                    description: "\(path).\(key): must be a decimal string of USD per 1M tokens, such as \"2.50\"")
            }
            rates[c] = rate
        }
        guard rates[.input] != nil || rates[.output] != nil else {
            throw Problem(description: "\(path): needs at least an input or an output rate")
        }
        return PriceSet(rates)
    }
}
