import TallyCore

/// The rate-bearing parts of an entry: price sets, batch prices, service tiers and long-context tiers, with the
/// completeness rules that keep a case from going unpriced silently.
extension CatalogFile {
    static let tierFields: Set<String> = ["above_input_tokens", "prices", "batch_prices", "service_tiers"]

    static func priceSet(_ value: JSONValue, at path: String) throws -> PriceSet {
        let rates = try rates(value, at: path)
        guard rates[.input] != nil || rates[.output] != nil else {
            throw Problem(description: "\(path): needs at least an input or an output rate")
        }
        return PriceSet(rates)
    }

    /// An object of token class → USD per 1M tokens; absent or null is no rates.
    static func rates(_ value: JSONValue?, at path: String) throws -> [TokenClass: Rate] {
        guard let value, value != .null else { return [:] }
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
        return rates
    }

    /// Service tier name (lowercased, as events are matched) → its own price set.
    static func serviceTierSets(_ value: JSONValue?, at path: String) throws -> [String: PriceSet] {
        guard let value, value != .null else { return [:] }
        guard case .object(let members) = value else {
            throw Problem(description: "\(path): must be an object of service tier → prices")
        }
        var sets: [String: PriceSet] = [:]
        for (name, set) in members { sets[name.lowercased()] = try priceSet(set, at: "\(path).\(name)") }
        return sets
    }

    static func serviceTierMultipliers(_ value: JSONValue?, at path: String) throws -> [String: Multiplier] {
        let path = path + ".service_tier_multipliers"
        guard let value, value != .null else { return [:] }
        guard case .object(let members) = value else {
            throw Problem(description: "\(path): must be an object of service tier → multiplier such as \"1.8\"")
        }
        var multipliers: [String: Multiplier] = [:]
        for (name, v) in members {
            guard case .string(let s) = v, let m = Multiplier(decimal: s) else {
                throw Problem(description: "\(path).\(name): must be a decimal multiplier such as \"1.8\"")
            }
            multipliers[name.lowercased()] = m
        }
        return multipliers
    }

    /// Long-context tiers, highest threshold first. Each names the same service tiers and batch classes as the
    /// entry's base: a service tier or a batch rate that only the base priced would otherwise bill a long prompt at
    /// the wrong level.
    static func parseContextTiers(
        _ value: JSONValue?, at path: String, serviceTiers entryTiers: [String: PriceSet],
        batchPrices entryBatch: [TokenClass: Rate], inheriting: Bool
    ) throws -> [PriceEntry.ContextTier] {
        let serviceTiers = Set(entryTiers.keys)
        let batchClasses = Set(entryBatch.keys)
        guard let value, value != .null else { return [] }
        guard case .array(let items) = value else {
            throw Problem(description: "\(path).tiers: must be an array of long-context tiers")
        }
        var tiers: [PriceEntry.ContextTier] = []
        for (k, tier) in items.enumerated() {
            let at = "\(path).tiers[\(k)]"
            guard case .object(let members) = tier else { throw Problem(description: "\(at): must be an object") }
            if let unknown = members.first(where: { !tierFields.contains($0.0) }) {
                throw Problem(
                    description: "\(at).\(unknown.0): unknown field; a tier has "
                        + tierFields.sorted().joined(separator: ", "))
            }
            guard case .number(let n)? = tier["above_input_tokens"], let above = Int64(n), above > 0 else {
                throw Problem(description: "\(at).above_input_tokens: must be a positive integer")
            }
            if tiers.contains(where: { $0.aboveInputTokens == above }) {
                throw Problem(description: "\(at).above_input_tokens: another tier starts at \(above)")
            }
            guard let set = tier["prices"] else { throw Problem(description: "\(at).prices: is required") }
            var own = try serviceTierSets(tier["service_tiers"], at: at + ".service_tiers")
            if inheriting, tier["service_tiers"] == nil { own = entryTiers }
            if Set(own.keys) != serviceTiers {
                throw Problem(
                    description: "\(at).service_tiers: must price the entry's service tiers (\(listed(serviceTiers))) "
                        + "at this tier's rates; it prices \(listed(Set(own.keys)))")
            }
            var batch = try rates(tier["batch_prices"], at: at + ".batch_prices")
            if inheriting, tier["batch_prices"] == nil { batch = entryBatch }
            if Set(batch.keys) != batchClasses {
                throw Problem(
                    description: "\(at).batch_prices: must name the classes of the entry's batch_prices "
                        + "(\(listed(Set(batchClasses.map(\.rawValue))))); it names "
                        + listed(Set(batch.keys.map(\.rawValue))))
            }
            tiers.append(
                .init(
                    aboveInputTokens: above, prices: try priceSet(set, at: at + ".prices"), batchPrices: batch,
                    serviceTiers: own))
        }
        return tiers.sorted { $0.aboveInputTokens > $1.aboveInputTokens }
    }

    static func listed(_ names: Set<String>) -> String {
        names.isEmpty ? "none" : names.sorted().joined(separator: ", ")
    }

    /// Names, or `{"name", "from"?, "to"?}` for a name valid only on those UTC days (from inclusive, to exclusive).
    static func parseAliases(_ value: JSONValue?, at path: String) throws -> [PriceEntry.Alias] {
        guard let value, value != .null else { return [] }
        guard case .array(let items) = value else {
            throw Problem(description: "\(path): must be an array of names or {\"name\", \"from\", \"to\"}")
        }
        var aliases: [PriceEntry.Alias] = []
        for (k, item) in items.enumerated() {
            switch item {
            case .string(let name):
                if name.containsControlCharacters {
                    throw Problem(description: "\(path)[\(k)]: must not contain control characters")
                }
                aliases.append(.init(name.lowercased()))
            case .object(let members):
                let fields = Fields(value: item, path: "\(path)[\(k)]")
                if let unknown = members.first(where: { !["name", "from", "to"].contains($0.0) }) {
                    throw fields.fail(unknown.0, "unknown field; an alias has name, from, to")
                }
                let alias = PriceEntry.Alias(
                    try fields.string("name")!.lowercased(), from: try fields.date("from", required: false),
                    to: try fields.date("to", required: false))
                if let from = alias.from, let to = alias.to, to <= from {
                    throw fields.fail("to", "must be after from")
                }
                aliases.append(alias)
            default:
                throw Problem(description: "\(path)[\(k)]: must be a name or {\"name\", \"from\", \"to\"}")
            }
        }
        return aliases
    }
}
