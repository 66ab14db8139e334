import TallyCore

/// The rates an event is priced at, chosen in the documented order: (1) the long-context tier by the prompt size,
/// whatever the service tier; (2) the service tier from that level's own rates, else its multiplier × that level's
/// rates, else standard; (3) batch: the level's absolute batch rates, every other class × `batch`.
struct PricingLevel {
    var prices: PriceSet
    var batchPrices: [TokenClass: Rate]
    var serviceTiers: [String: PriceSet]
    /// The threshold of the long-context tier chosen, nil for the base rates.
    var longContextAbove: Int64?

    /// The service tiers billed at the standard rates.
    static let standardTiers: Set<String> = ["auto", "default", "standard"]

    var modifiers: [String] { longContextAbove.map { ["long context: input above \($0) tokens"] } ?? [] }

    /// Long-context tiers are chosen by one request's prompt size; an event counting several requests is judged by
    /// its average. A report's row is many requests summed (Anthropic's counts none): its own context window
    /// decides (`longContext`), or a day of ordinary prompts adding up past 200k tokens would be priced at the
    /// long-context rates.
    static func chosen(for usage: TokenUsage, in entry: PriceEntry, longContext: Bool?) -> PricingLevel {
        let perRequest = usage.inputTokens / max(usage.requests, 1)
        let tier =
            longContext.map { $0 ? entry.contextTiers.first : nil }
            ?? entry.contextTiers.first(where: { perRequest > $0.aboveInputTokens })
        guard let tier else {
            return PricingLevel(
                prices: entry.prices, batchPrices: entry.batchPrices, serviceTiers: entry.serviceTiers,
                longContextAbove: nil)
        }
        return PricingLevel(
            prices: tier.prices, batchPrices: tier.batchPrices, serviceTiers: tier.serviceTiers,
            longContextAbove: tier.aboveInputTokens)
    }

    /// The rates of a service tier at this level, or a multiplier of this level's rates.
    struct ServiceTier {
        var prices: PriceSet
        var multiplier: Multiplier?
        var modifiers: [String]
    }

    func serviceTier(_ requested: String?, of entry: PriceEntry) -> ServiceTier {
        // `batch` as a tier (Anthropic's usage, OpenAI's report rows) says what the event's batch flag already
        // prices: the rates stay standard here and the batch rule below applies, without a misleading note.
        guard let requested = requested?.lowercased(), !Self.standardTiers.contains(requested), requested != "batch"
        else {
            return ServiceTier(prices: prices, multiplier: nil, modifiers: [])
        }
        // OpenAI publishes `fast` at priority's rates: priced as priority unless the entry prices fast itself.
        let ownFast = serviceTiers["fast"] != nil || entry.serviceTierMultipliers["fast"] != nil
        let name = requested == "fast" && !ownFast ? "priority" : requested
        let label = name == requested ? "service tier \(name)" : "service tier fast at the priority rates"
        let level = longContextAbove == nil ? "" : " (long-context rates)"
        if let set = serviceTiers[name] {
            return ServiceTier(prices: set, multiplier: nil, modifiers: [label + level])
        }
        if let m = entry.serviceTierMultipliers[name] {
            return ServiceTier(prices: prices, multiplier: m, modifiers: ["\(label) ×\(m.decimalString)\(level)"])
        }
        return ServiceTier(
            prices: prices, multiplier: nil,
            modifiers: ["service tier \(requested) has no price of its own: standard rates"])
    }

    /// Batch's rule at this level: the multiplier, and the classes billed at an absolute batch rate instead.
    struct BatchRule {
        var multiplier: Multiplier
        var prices: [TokenClass: Rate]
    }

    func batch(of entry: PriceEntry) -> BatchRule? {
        entry.batch.map { BatchRule(multiplier: $0, prices: batchPrices) }
    }

    func batchModifier(of entry: PriceEntry) -> String {
        guard let m = entry.batch else { return "batch has no discount for this model: standard rates" }
        let exempt = CostEngine.lineOrder.compactMap { c in
            batchPrices[c].map { "\(c.rawValue) at its batch rate \($0.decimalString)" }
        }
        return "batch ×\(m.decimalString) "
            + (exempt.isEmpty ? "on every class" : "except " + exempt.joined(separator: ", "))
    }
}

/// A rate after its multipliers, exact: `value` in units of 10^-(9+scale) USD per 1M tokens. Each multiplier is
/// exact to 10⁻⁹; trailing zeros are dropped after each product so that the usual ones (0.5, 1.8) keep the numbers
/// small, and a product past Int128 is nil (the event is then unpriced, never wrapped).
struct ScaledRate {
    var value: Int128
    var scale: Int

    init?(_ rate: Rate, _ multipliers: [Multiplier]) {
        value = Int128(rate.nanosPerMillion)
        scale = 0
        for m in multipliers {
            let (product, overflow) = value.multipliedReportingOverflow(by: Int128(m.nanos))
            guard !overflow else { return nil }
            value = product
            scale += 9
            while scale > 0, value % 10 == 0 {
                value /= 10
                scale -= 1
            }
        }
    }

    /// How many units make one nano-dollar per 1M tokens.
    var unitsPerNano: Int128 {
        var unit: Int128 = 1
        for _ in 0..<scale { unit *= 10 }
        return unit
    }

    /// USD per 1M tokens as a plain decimal.
    var decimalString: String { CostEngine.exactDecimal(value, scale: 9 + scale) }
}
