import TallyCore
import TallyPrice
import Testing

/// A provider report's row sums many requests (Anthropic's messages report counts none), so its summed input cannot
/// choose the long-context rates; the report's own `context_window` does (issue 25). Claude Sonnet 4 at Anthropic's
/// published rates (docs.anthropic.com/en/docs/about-claude/pricing, read 2026-11-23): $3 input and $15 output per 1M
/// tokens for prompts up to 200k, $6 and $22.50 above.
@Suite struct ReportRowContextWindowTests {
    let pricer = CatalogPricer()

    func row(input: Int64, output: Int64) -> UsageEvent {
        var e = UsageEvent(
            id: "report", timestamp: Instant(rfc3339: "2026-11-01T00:00:00Z")!, provider: "anthropic",
            model: "claude-sonnet-4-20250514")
        e.usage.inputTokens = input
        e.usage.outputTokens = output
        e.usage.requests = 0
        return e
    }

    @Test func aDayOfShortPromptsAddingUpPast200kIsPricedAtTheStandardRates() {
        // 250000 × $3 = $0.75; 10000 × $15 = $0.15
        #expect(
            pricer.quote(row(input: 250_000, output: 10_000), organizationID: "org", longContext: false)?.cost
                .decimalString == "0.9")
    }

    @Test func rowsBilledInTheLongContextWindowArePricedAtItsRates() {
        // 100000 × $6 = $0.60; 10000 × $22.50 = $0.225
        #expect(
            pricer.quote(row(input: 100_000, output: 10_000), organizationID: "org", longContext: true)?.cost
                .decimalString == "0.825")
    }

    @Test func anEventWithoutAWindowIsStillJudgedByItsPrompt() {
        // One request of 250000 tokens: long context. 250000 × $6 = $1.50; 10000 × $22.50 = $0.225
        var e = row(input: 250_000, output: 10_000)
        e.usage.requests = 1
        #expect(pricer.quote(e, organizationID: "org")?.cost.decimalString == "1.725")
    }

    @Test func aModelWithoutLongContextRatesKeepsItsRates() {
        // Claude Haiku 4.5 has one price: 100000 × $1 = $0.10; 10000 × $5 = $0.05
        var e = row(input: 100_000, output: 10_000)
        e.model = "claude-haiku-4-5-20251001"
        #expect(pricer.quote(e, organizationID: "org", longContext: true)?.cost.decimalString == "0.15")
    }
}
