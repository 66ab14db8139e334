import TallyCore
import TallyPrice
import Testing

/// The cost engine under hostile counts and rates: it never traps, never wraps, and what it cannot price within
/// `UsageLimits.maxAmount` is unpriced with the field that broke it named.
@Suite struct CostEngineBoundsTests {
    static let counts: [Int64] = [
        Int64.max, Int64.min, -1, 0, 1, 999_999_999_999, 1_000_000_000_000, 1_000_000_000_001, 1 << 62,
    ]

    func entry(rate: Int64, batch: Int64? = nil, perRequest: Int64? = nil) -> PriceEntry {
        let set = PriceSet(
            Dictionary(uniqueKeysWithValues: TokenClass.allCases.map { ($0, Rate(nanosPerMillion: rate)) }))
        return PriceEntry(
            id: "hostile", provider: "openai", model: "m", from: CivilDate(year: 2026, month: 1, day: 1), prices: set,
            batch: batch.map(Multiplier.init(nanos:)),
            contextTiers: [PriceEntry.ContextTier(aboveInputTokens: 1000, prices: set)],
            perRequest: perRequest.map(USD.init(nanos:)))
    }

    func usage(_ n: Int64, at position: Int) -> TokenUsage {
        var u = TokenUsage()
        u.inputTokens = 1_000_000
        u.outputTokens = 1_000_000
        switch position {
        case 0: u.inputTokens = n
        case 1: u.outputTokens = n
        case 2: u.cachedInputTokens = n
        case 3: u.cacheWriteInputTokens = n
        case 4: u.cacheWrite1hInputTokens = n
        case 5: u.reasoningTokens = n
        case 6: u.inputAudioTokens = n
        case 7: u.outputAudioTokens = n
        case 8: u.cachedInputAudioTokens = n
        default: u.requests = n
        }
        return u
    }

    @Test func hostileCountsAndRatesNeverTrap() {
        let rates: [Int64] = [0, 1, 600_000_000_000, Int64.max]
        let multipliers: [Int64?] = [nil, 500_000_000, Int64.max]
        for rate in rates {
            for multiplier in multipliers {
                let e = entry(rate: rate, batch: multiplier, perRequest: rate == 0 ? nil : rate)
                for n in Self.counts {
                    for position in 0...9 {
                        let u = usage(n, at: position)
                        let b = CostEngine.price(
                            u, batch: multiplier != nil, serviceTier: nil, entry: e, modelResolved: "m")
                        if b.problem == nil {
                            #expect(u.boundsProblem == nil)
                            #expect(
                                b.cost >= .zero && b.cost <= UsageLimits.maxAmount, "rate \(rate) n \(n) at \(position)"
                            )
                        } else {
                            #expect(b.lines.isEmpty)
                        }
                    }
                }
            }
        }
    }

    @Test func aCostBeyondTheLimitIsUnpricedWithItsFieldNamed() {
        var u = TokenUsage()
        u.outputTokens = 1_000_000_000_000
        // 10^12 tokens at $1,000/M is exactly the limit; at $1,000.000000001/M it is past it.
        let atLimit = CostEngine.price(
            u, batch: false, serviceTier: nil, entry: entry(rate: 1_000_000_000_000), modelResolved: "m")
        #expect(atLimit.problem == nil && atLimit.cost == UsageLimits.maxAmount)
        let past = CostEngine.price(
            u, batch: false, serviceTier: nil, entry: entry(rate: 1_000_000_000_001), modelResolved: "m")
        #expect(past.problem?.field == "output_tokens" && past.lines.isEmpty)
        // A huge rate times a huge multiplier times 10^12 tokens passes even Int128.
        let beyond = CostEngine.price(
            u, batch: true, serviceTier: nil, entry: entry(rate: Int64.max, batch: Int64.max), modelResolved: "m")
        #expect(beyond.problem?.field == "output_tokens")
        // Counts the decoder would refuse are refused here too, before any arithmetic.
        u.inputTokens = Int64.max
        #expect(
            CostEngine.price(u, batch: false, serviceTier: nil, entry: entry(rate: 1), modelResolved: "m").problem?
                .field == "input_tokens")
    }

    @Test func theCatalogPricerLeavesAnUnpriceableEventUnpriced() {
        let pricer = CatalogPricer(catalog: PriceCatalog(entries: [entry(rate: Int64.max)]))
        var e = UsageEvent(
            id: "e", timestamp: Instant(rfc3339: "2026-11-20T10:00:00Z")!, provider: "openai", model: "m")
        e.usage.outputTokens = 1_000_000_000_000
        #expect(pricer.quote(e, organizationID: "org") == nil)
        #expect(pricer.breakdown(e, organizationID: "org")?.problem?.field == "output_tokens")
        e.usage.outputTokens = 1
        #expect(pricer.quote(e, organizationID: "org") != nil)
    }
}
