import TallyCore
import TallyPrice
import Testing

// The entries added for the names the newest SDKs use (issue 16): the search-preview models' token prices with
// their per-request search fee ($25 per 1,000 calls), and two Gemini models LiteLLM 1.110.2's map now prices.
// Rates as in prices/catalog.json (their sources and check dates are there); the arithmetic is in `why`.
let todaysNamesCases: [CostCase] = [
    CostCase(
        name: "gpt-4o-search-preview tokens and the search fee", provider: "openai", model: "gpt-4o-search-preview",
        input: 1000, output: 500,
        expected: "0.0325", why: "1000×2.50/1M = 0.0025; 500×10.00/1M = 0.005; 1 request × 0.025"),
    CostCase(
        name: "gpt-4o-search-preview dated snapshot, three requests", provider: "openai",
        model: "gpt-4o-search-preview-2025-03-11", input: 3000, output: 600, requests: 3,
        expected: "0.0885", why: "3000×2.50 = 0.0075; 600×10 = 0.006; 3 × 0.025 = 0.075"),
    CostCase(
        name: "gpt-4o-mini-search-preview tokens and the search fee", provider: "openai",
        model: "gpt-4o-mini-search-preview", input: 10000, output: 2000,
        expected: "0.0277", why: "10000×0.15 = 0.0015; 2000×0.60 = 0.0012; 1 × 0.025"),
    CostCase(
        name: "gpt-4o-mini-search-preview batch halves the tokens, not the fee", provider: "openai",
        model: "gpt-4o-mini-search-preview", input: 10000, output: 2000, batch: true,
        expected: "0.02635", why: "(0.0015 + 0.0012) × 0.5 = 0.00135; the search fee 0.025 stays"),
    CostCase(
        name: "gemini-4-hydrogen with cached input", provider: "google", model: "gemini-4-hydrogen", input: 100_000,
        cached: 40000, output: 10000,
        expected: "0.168", why: "60000×1.50 = 0.09; 40000×0.075 = 0.003; 10000×7.50 = 0.075"),
    CostCase(
        name: "gemini-4-hydrogen flex", provider: "google", model: "gemini-4-hydrogen", input: 100_000, output: 10000,
        tier: "flex",
        expected: "0.1125", why: "100000×0.75 = 0.075; 10000×3.75 = 0.0375"),
    CostCase(
        name: "gemini-4-hydrogen priority", provider: "google", model: "gemini-4-hydrogen", input: 100_000,
        cached: 50000, output: 10000,
        tier: "priority",
        expected: "0.27675", why: "50000×2.70 = 0.135; 50000×0.135 = 0.00675; 10000×13.50 = 0.135"),
    CostCase(
        name: "gemini-omni-1.2-flash", provider: "google", model: "gemini-omni-1.2-flash", input: 20000, output: 5000,
        expected: "0.075", why: "20000×1.50 = 0.03; 5000×9.00 = 0.045"),
]

@Suite struct TodaysNamesCostTests {
    let pricer = CatalogPricer()

    @Test(arguments: todaysNamesCases)
    func cost(_ c: CostCase) {
        let breakdown = pricer.breakdown(c.event, organizationID: "org")
        #expect(breakdown?.cost.decimalString == c.expected, "\(c.name): \(c.why)")
        #expect(breakdown.map { $0.lines.reduce(USD.zero) { $0 + $1.cost } } == breakdown?.cost)
    }
}
