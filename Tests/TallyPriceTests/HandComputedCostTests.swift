import TallyCore
import TallyPrice
import Testing

/// One hand-computed case: the published rate (USD per 1M tokens) and the arithmetic are in `why`.
struct CostCase: CustomTestStringConvertible, Sendable {
    var name: String
    var provider: String
    var model: String
    var at = "2026-11-01T12:00:00Z"
    var input: Int64 = 0
    var cached: Int64 = 0
    var write: Int64 = 0
    var write1h: Int64 = 0
    var output: Int64 = 0
    var reasoning: Int64 = 0
    var inputAudio: Int64 = 0
    var outputAudio: Int64 = 0
    var requests: Int64 = 1
    var batch = false
    var tier: String?
    /// nil: the model must be unpriced.
    var expected: String?
    var why: String
    var testDescription: String { name }

    var event: UsageEvent {
        var e = UsageEvent(
            id: "e", timestamp: Instant(rfc3339: at)!, provider: provider, model: model,
            batch: batch, serviceTier: tier)
        e.usage.inputTokens = input
        e.usage.cachedInputTokens = cached
        e.usage.cacheWriteInputTokens = write
        e.usage.cacheWrite1hInputTokens = write1h
        e.usage.outputTokens = output
        e.usage.reasoningTokens = reasoning
        e.usage.inputAudioTokens = inputAudio
        e.usage.outputAudioTokens = outputAudio
        e.usage.requests = requests
        return e
    }
}

// Rates from the providers' pricing pages (openai.com/api/pricing, platform.openai.com/docs/pricing,
// docs.anthropic.com/en/docs/about-claude/pricing, ai.google.dev/gemini-api/docs/pricing), checked 2026-11-23.
let openAICases: [CostCase] = [
    CostCase(
        name: "gpt-4o input and output", provider: "openai", model: "gpt-4o", input: 1000, output: 500,
        expected: "0.0075",
        why: "1000×2.50/1M = 0.0025; 500×10.00/1M = 0.005"),
    CostCase(
        name: "gpt-4o cached input is not charged twice", provider: "openai", model: "gpt-4o", input: 10000,
        cached: 4000, output: 200,
        expected: "0.022", why: "(10000−4000)×2.50 = 0.015; 4000×1.25 = 0.005; 200×10 = 0.002"),
    CostCase(
        name: "gpt-4o batch", provider: "openai", model: "gpt-4o", input: 1000, output: 500, batch: true,
        expected: "0.00375",
        why: "0.0075 × 0.5"),
    CostCase(
        name: "gpt-4o batch with cached input", provider: "openai", model: "gpt-4o", input: 10000, cached: 4000,
        output: 200,
        batch: true, expected: "0.0135",
        why: "6000×2.50×0.5 = 0.0075; no batch cached rate: 4000×1.25 = 0.005; 200×10×0.5 = 0.001"),
    CostCase(
        name: "gpt-4o dated snapshot 2024-08-06", provider: "openai", model: "gpt-4o-2024-08-06", input: 1000,
        output: 500,
        expected: "0.0075", why: "same rates as gpt-4o"),
    CostCase(
        name: "gpt-4o-2024-05-13 keeps its own price", provider: "openai", model: "gpt-4o-2024-05-13", input: 1000,
        output: 500,
        expected: "0.0125", why: "1000×5.00 = 0.005; 500×15.00 = 0.0075"),
    CostCase(
        name: "routed openai/gpt-4o", provider: "openai", model: "openai/gpt-4o", input: 1000, output: 500,
        expected: "0.0075",
        why: "route prefix removed"),
    CostCase(
        name: "Azure azure/gpt-4o at list price", provider: "azure_openai", model: "azure/gpt-4o", input: 1000,
        output: 500,
        expected: "0.0075", why: "Azure routes priced at OpenAI's list price unless overridden"),
    CostCase(
        name: "model name case", provider: "openai", model: "GPT-4o", input: 1000, output: 500, expected: "0.0075",
        why: "names are case-insensitive"),
    CostCase(
        name: "gpt-4o-mini one million each", provider: "openai", model: "gpt-4o-mini", input: 1_000_000,
        output: 1_000_000,
        expected: "0.75", why: "0.15 + 0.60"),
    CostCase(
        name: "gpt-4o-mini cached", provider: "openai", model: "gpt-4o-mini", input: 2000, cached: 1024, output: 100,
        expected: "0.0002832", why: "976×0.15 = 0.0001464; 1024×0.075 = 0.0000768; 100×0.60 = 0.00006"),
    CostCase(
        name: "gpt-4o-mini one input token", provider: "openai", model: "gpt-4o-mini", input: 1, expected: "0.00000015",
        why: "1×0.15/1M = 150 nano-dollars"),
    CostCase(
        name: "half a nano-dollar rounds up", provider: "openai", model: "gpt-5-mini", input: 1, cached: 1,
        batch: true,
        expected: "0.000000013", why: "1×0.025×0.5/1M = 12.5 nano-dollars, rounded half-up to 13"),
    CostCase(
        name: "gpt-4.1 cached", provider: "openai", model: "gpt-4.1", input: 50000, cached: 20000, output: 3000,
        expected: "0.094",
        why: "30000×2.00 = 0.06; 20000×0.50 = 0.01; 3000×8.00 = 0.024"),
    CostCase(
        name: "gpt-4.1-mini", provider: "openai", model: "gpt-4.1-mini", input: 100_000, output: 10000,
        expected: "0.056",
        why: "100000×0.40 = 0.04; 10000×1.60 = 0.016"),
    CostCase(
        name: "gpt-4.1-nano cached", provider: "openai", model: "gpt-4.1-nano", input: 1_000_000, cached: 500_000,
        output: 100_000,
        expected: "0.1025", why: "500000×0.10 = 0.05; 500000×0.025 = 0.0125; 100000×0.40 = 0.04"),
    CostCase(
        name: "o3 reasoning at the output rate", provider: "openai", model: "o3", input: 2000, output: 5000,
        reasoning: 4000,
        expected: "0.044", why: "2000×2 = 0.004; 1000×8 = 0.008; reasoning 4000×8 = 0.032"),
    CostCase(
        name: "o3 before the 2025-06-10 price cut", provider: "openai", model: "o3", at: "2025-05-01T00:00:00Z",
        input: 2000,
        output: 5000, reasoning: 4000, expected: "0.22", why: "2000×10 = 0.02; 1000×40 = 0.04; 4000×40 = 0.16"),
    CostCase(
        name: "o4-mini cached and reasoning", provider: "openai", model: "o4-mini", input: 10000, cached: 8000,
        output: 2000,
        reasoning: 1500, expected: "0.0132",
        why: "2000×1.10 = 0.0022; 8000×0.275 = 0.0022; 500×4.40 = 0.0022; 1500×4.40 = 0.0066"),
    CostCase(
        name: "o1", provider: "openai", model: "o1", input: 1000, output: 1000, reasoning: 800, expected: "0.075",
        why: "1000×15 = 0.015; 1000×60 = 0.06"),
    CostCase(
        name: "gpt-5 cached and reasoning", provider: "openai", model: "gpt-5", input: 100_000, cached: 60000,
        output: 5000,
        reasoning: 3000, expected: "0.1075",
        why: "40000×1.25 = 0.05; 60000×0.125 = 0.0075; 2000×10 = 0.02; 3000×10 = 0.03"),
    CostCase(
        name: "gpt-5 flex tier", provider: "openai", model: "gpt-5", input: 100_000, cached: 60000, output: 5000,
        reasoning: 3000,
        tier: "flex", expected: "0.05375", why: "flex rates 0.625 / 0.0625 / 5.00: 0.025 + 0.00375 + 0.01 + 0.015"),
    CostCase(
        name: "gpt-5 priority tier", provider: "openai", model: "gpt-5", input: 100_000, cached: 60000, output: 5000,
        reasoning: 3000,
        tier: "priority", expected: "0.215", why: "priority rates 2.50 / 0.25 / 20.00: 0.1 + 0.015 + 0.04 + 0.06"),
    CostCase(
        name: "gpt-5 default tier is standard", provider: "openai", model: "gpt-5", input: 100_000, cached: 60000,
        output: 5000,
        reasoning: 3000, tier: "default", expected: "0.1075", why: "as standard"),
    CostCase(
        name: "gpt-5 batch", provider: "openai", model: "gpt-5", input: 100_000, cached: 60000, output: 5000,
        reasoning: 3000,
        batch: true, expected: "0.05375", why: "0.1075 × 0.5"),
    CostCase(
        name: "gpt-5-mini", provider: "openai", model: "gpt-5-mini", input: 1_000_000, output: 1_000_000,
        expected: "2.25",
        why: "0.25 + 2.00"),
    CostCase(
        name: "gpt-5-nano cached only", provider: "openai", model: "gpt-5-nano", input: 1_000_000, cached: 1_000_000,
        expected: "0.005", why: "1000000×0.005"),
    CostCase(
        name: "gpt-5 dated snapshot", provider: "openai", model: "gpt-5-2025-08-07", input: 1_000_000, expected: "1.25",
        why: "gpt-5 rates"),
    CostCase(
        name: "text-embedding-3-small", provider: "openai", model: "text-embedding-3-small", input: 1_000_000,
        expected: "0.02",
        why: "1000000×0.02"),
    CostCase(
        name: "text-embedding-3-large", provider: "openai", model: "text-embedding-3-large", input: 250_000,
        expected: "0.0325",
        why: "250000×0.13"),
    CostCase(
        name: "text-embedding-ada-002", provider: "openai", model: "text-embedding-ada-002", input: 1000,
        expected: "0.0001",
        why: "1000×0.10"),
    CostCase(
        name: "embedding batch", provider: "openai", model: "text-embedding-3-small", input: 1_000_000, batch: true,
        expected: "0.01", why: "0.02 × 0.5"),
    CostCase(
        name: "gpt-realtime audio and text", provider: "openai", model: "gpt-realtime", input: 1000, output: 500,
        inputAudio: 800,
        outputAudio: 400, expected: "0.0536",
        why: "text in 200×4 = 0.0008; audio in 800×32 = 0.0256; text out 100×16 = 0.0016; audio out 400×64 = 0.0256"),
]

let anthropicCases: [CostCase] = [
    CostCase(
        name: "sonnet 4.5 input and output", provider: "anthropic", model: "claude-sonnet-4-5", input: 1000,
        output: 1000,
        expected: "0.018", why: "1000×3 = 0.003; 1000×15 = 0.015"),
    CostCase(
        name: "sonnet 4.5 cache read", provider: "anthropic", model: "claude-sonnet-4-5", input: 50000, cached: 40000,
        output: 500,
        expected: "0.0495", why: "10000×3 = 0.03; 40000×0.30 = 0.012; 500×15 = 0.0075"),
    CostCase(
        name: "sonnet 4.5 cache write 5m", provider: "anthropic", model: "claude-sonnet-4-5", input: 20000,
        write: 15000, output: 100,
        expected: "0.07275", why: "5000×3 = 0.015; 15000×3.75 = 0.05625; 100×15 = 0.0015"),
    CostCase(
        name: "sonnet 4.5 cache write 1h", provider: "anthropic", model: "claude-sonnet-4-5", input: 20000,
        write: 15000,
        write1h: 15000, output: 100, expected: "0.1065", why: "5000×3 = 0.015; 15000×6 = 0.09; 100×15 = 0.0015"),
    CostCase(
        name: "sonnet 4.5 read, 5m and 1h writes together", provider: "anthropic", model: "claude-sonnet-4-5",
        input: 100_000,
        cached: 50000, write: 30000, write1h: 10000, output: 2000, expected: "0.24",
        why: "20000×3 = 0.06; 50000×0.30 = 0.015; 20000×3.75 = 0.075; 10000×6 = 0.06; 2000×15 = 0.03"),
    CostCase(
        name: "sonnet 4.5 batch", provider: "anthropic", model: "claude-sonnet-4-5", input: 1000, output: 1000,
        batch: true,
        expected: "0.009", why: "0.018 × 0.5"),
    CostCase(
        name: "sonnet 4.5 batch with cache read", provider: "anthropic", model: "claude-sonnet-4-5", input: 50000,
        cached: 40000,
        output: 500, batch: true, expected: "0.02475", why: "0.0495 × 0.5: Anthropic's multipliers stack"),
    CostCase(
        name: "sonnet 4.5 above 200k input", provider: "anthropic", model: "claude-sonnet-4-5", input: 250_000,
        output: 1000,
        expected: "1.5225", why: "long-context rates: 250000×6 = 1.5; 1000×22.50 = 0.0225"),
    CostCase(
        name: "sonnet 4.5 at exactly 200k input", provider: "anthropic", model: "claude-sonnet-4-5", input: 200_000,
        output: 1000,
        expected: "0.615", why: "standard rates: 200000×3 = 0.6; 1000×15 = 0.015"),
    CostCase(
        name: "sonnet 4.5 dated id", provider: "anthropic", model: "claude-sonnet-4-5-20250929", input: 1000,
        output: 1000,
        expected: "0.018", why: "alias of claude-sonnet-4-5"),
    CostCase(
        name: "sonnet 4.5 on Bedrock", provider: "bedrock", model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        input: 1000,
        output: 1000, expected: "0.018", why: "region, vendor and version removed"),
    CostCase(
        name: "sonnet 4.5 on Vertex", provider: "vertex_ai", model: "claude-sonnet-4-5@20250929", input: 1000,
        output: 1000,
        expected: "0.018", why: "@date read as a dated id"),
    CostCase(
        name: "opus 4.1 cache read", provider: "anthropic", model: "claude-opus-4-1", input: 10000, cached: 5000,
        output: 1000,
        expected: "0.1575", why: "5000×15 = 0.075; 5000×1.50 = 0.0075; 1000×75 = 0.075"),
    CostCase(
        name: "opus 4.5", provider: "anthropic", model: "claude-opus-4-5", input: 1000, output: 1000, expected: "0.03",
        why: "1000×5 = 0.005; 1000×25 = 0.025"),
    CostCase(
        name: "haiku 4.5 cache write", provider: "anthropic", model: "claude-haiku-4-5", input: 10000, write: 10000,
        output: 1000,
        expected: "0.0175", why: "10000×1.25 = 0.0125; 1000×5 = 0.005"),
    CostCase(
        name: "haiku 3.5", provider: "anthropic", model: "claude-3-5-haiku-20241022", input: 1_000_000,
        output: 1_000_000,
        expected: "4.8", why: "0.80 + 4.00"),
    CostCase(
        name: "haiku 3 cache read", provider: "anthropic", model: "claude-3-haiku-20240307", input: 1_000_000,
        cached: 1_000_000,
        expected: "0.03", why: "1000000×0.03"),
    CostCase(
        name: "sonnet 3.7 on Bedrock", provider: "bedrock", model: "anthropic.claude-3-7-sonnet-20250219-v1:0",
        input: 1000,
        output: 1000, expected: "0.018", why: "3 + 15 per 1M"),
    CostCase(
        name: "sonnet 4 dated", provider: "anthropic", model: "claude-sonnet-4-20250514", input: 1000, output: 1000,
        expected: "0.018", why: "3 + 15 per 1M"),
]

let googleCases: [CostCase] = [
    CostCase(
        name: "gemini 2.5 pro", provider: "google", model: "gemini-2.5-pro", input: 10000, output: 1000,
        expected: "0.0225",
        why: "10000×1.25 = 0.0125; 1000×10 = 0.01"),
    CostCase(
        name: "gemini 2.5 pro at the 200k boundary", provider: "google", model: "gemini-2.5-pro", input: 200_000,
        output: 1000,
        expected: "0.26", why: "prompts ≤ 200k: 200000×1.25 = 0.25; 1000×10 = 0.01"),
    CostCase(
        name: "gemini 2.5 pro one token past 200k", provider: "google", model: "gemini-2.5-pro", input: 200_001,
        output: 1000,
        expected: "0.5150025", why: "> 200k: 200001×2.50 = 0.5000025; 1000×15 = 0.015"),
    CostCase(
        name: "gemini 2.5 pro cached", provider: "google", model: "gemini-2.5-pro", input: 100_000, cached: 80000,
        output: 2000,
        expected: "0.055", why: "20000×1.25 = 0.025; 80000×0.125 = 0.01; 2000×10 = 0.02"),
    CostCase(
        name: "gemini 2.5 pro thoughts at the output rate", provider: "google", model: "gemini-2.5-pro", input: 1000,
        output: 3000,
        reasoning: 2500, expected: "0.03125", why: "1000×1.25 = 0.00125; 500×10 + 2500×10 = 0.03"),
    CostCase(
        name: "gemini models/ prefix", provider: "google", model: "models/gemini-2.5-pro", input: 10000, output: 1000,
        expected: "0.0225", why: "as gemini-2.5-pro"),
    CostCase(
        name: "gemini 2.5 pro batch", provider: "google", model: "gemini-2.5-pro", input: 10000, output: 1000,
        batch: true,
        expected: "0.01125", why: "0.0225 × 0.5"),
    CostCase(
        name: "gemini 2.5 pro two requests judged by average prompt", provider: "google", model: "gemini-2.5-pro",
        input: 300_000,
        requests: 2, expected: "0.375", why: "150000 per request ≤ 200k: 300000×1.25"),
    CostCase(
        name: "gemini 2.5 flash", provider: "google", model: "gemini-2.5-flash", input: 10000, output: 1000,
        expected: "0.0055",
        why: "10000×0.30 = 0.003; 1000×2.50 = 0.0025"),
    CostCase(
        name: "gemini 2.5 flash audio input", provider: "google", model: "gemini-2.5-flash", input: 10000,
        inputAudio: 10000,
        expected: "0.01", why: "10000×1.00 (audio input)"),
    CostCase(
        name: "gemini 2.5 flash cached", provider: "google", model: "gemini-2.5-flash", input: 100_000, cached: 100_000,
        expected: "0.003", why: "100000×0.03"),
    CostCase(
        name: "gemini 2.5 flash on Vertex path", provider: "vertex_ai",
        model: "publishers/google/models/gemini-2.5-flash",
        input: 10000, output: 1000, expected: "0.0055", why: "path removed"),
    CostCase(
        name: "gemini 2.5 flash-lite", provider: "google", model: "gemini-2.5-flash-lite", input: 1_000_000,
        output: 1_000_000,
        expected: "0.5", why: "0.10 + 0.40"),
    CostCase(
        name: "gemini 2.0 flash cached", provider: "google", model: "gemini-2.0-flash-001", input: 1_000_000,
        cached: 500_000,
        expected: "0.0625", why: "500000×0.10 = 0.05; 500000×0.025 = 0.0125"),
    CostCase(
        name: "gemini 3 pro above 200k", provider: "google", model: "gemini-3-pro-preview", input: 300_000,
        output: 10000,
        expected: "1.38", why: "> 200k: 300000×4 = 1.2; 10000×18 = 0.18"),
    CostCase(
        name: "gemini 3 pro", provider: "google", model: "gemini-3-pro-preview", input: 100_000, output: 10000,
        expected: "0.32", why: "100000×2 = 0.2; 10000×12 = 0.12"),
    CostCase(
        name: "gemini embedding", provider: "google", model: "gemini-embedding-001", input: 1_000_000, expected: "0.15",
        why: "1000000×0.15"),
]

let unpricedCases: [CostCase] = [
    CostCase(
        name: "unknown model is unpriced, not $0", provider: "self_hosted", model: "my-llama-70b", input: 1000,
        expected: nil,
        why: "no entry"),
    CostCase(
        name: "fine-tuned model is unpriced until an organization prices it", provider: "openai",
        model: "ft:gpt-4o-mini-2024-07-18:acme::abc123", input: 1000, expected: nil, why: "fine-tunes bill differently"),
    CostCase(
        name: "model used before its first price date", provider: "openai", model: "gpt-5", at: "2020-01-01T00:00:00Z",
        input: 1000, expected: nil, why: "no entry in force in 2020"),
]

@Suite struct HandComputedCostTests {
    let pricer = CatalogPricer()

    @Test(arguments: openAICases + anthropicCases + googleCases + unpricedCases)
    func cost(_ c: CostCase) {
        let breakdown = pricer.breakdown(c.event, organizationID: "org")
        let cost = breakdown?.cost.decimalString
        #expect(cost == c.expected, "\(c.name): \(c.why)")
        if let breakdown {
            let sum = breakdown.lines.reduce(USD.zero) { $0 + $1.cost }
            #expect(sum == breakdown.cost)
            #expect(pricer.quote(c.event, organizationID: "org")?.priceID == breakdown.entry.id)
        } else {
            #expect(pricer.quote(c.event, organizationID: "org") == nil)
        }
    }

    @Test func thereAreAtLeastSixtyCases() {
        #expect((openAICases + anthropicCases + googleCases + unpricedCases).count >= 60)
    }
}
