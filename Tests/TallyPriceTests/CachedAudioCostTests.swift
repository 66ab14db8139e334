import TallyCore
import TallyPrice
import TallyProviders
import Testing

/// One hand-computed case with cached audio: a `CostCase` and the audio part of its cache reads, which is inside its
/// `cached`, `inputAudio` and `input` counts alike. `lines` are the tokens each line must bill.
struct CachedAudioCase: CustomTestStringConvertible, Sendable {
    var base: CostCase
    var cachedAudio: Int64
    var lines: [String: Int64]
    var testDescription: String { base.name }

    var event: UsageEvent {
        var e = base.event
        e.usage.cachedInputAudioTokens = cachedAudio
        return e
    }
}

// Cached-audio rates (USD per 1M tokens) as LiteLLM 1.110.2 (`cache_read_input_audio_token_cost`) and genai-prices
// 0.2.3 (`cache_audio_read_mtok`) publish them, the other rates as in HandComputedCostTests. In every `why` the
// lines are: text not cached, cached text, audio not cached, cached audio, then output.
let cachedAudioCases: [CachedAudioCase] = [
    CachedAudioCase(
        base: CostCase(
            name: "gpt-realtime-mini cached audio at its own rate, five times cached text", provider: "openai",
            model: "gpt-realtime-mini", input: 10000, cached: 7000, inputAudio: 5000,
            expected: "0.01258",
            why:
                "(10000−7000−(5000−4000))=2000×0.60 = 0.0012; (7000−4000)×0.06 = 0.00018; (5000−4000)×10 = 0.01; "
                + "4000×0.30 = 0.0012"),
        cachedAudio: 4000,
        lines: ["input": 2000, "cached_input": 3000, "input_audio": 1000, "cached_input_audio": 4000]),
    CachedAudioCase(
        base: CostCase(
            name: "gpt-realtime-mini prompt all cached audio", provider: "openai", model: "gpt-realtime-mini",
            input: 100_000, cached: 100_000, output: 1000, inputAudio: 100_000, outputAudio: 1000,
            expected: "0.05",
            why: "100000×0.30 = 0.03 (not 100000×0.06 + 100000×10 = 1.006); 1000×20 = 0.02 audio out"),
        cachedAudio: 100_000,
        lines: ["cached_input_audio": 100_000, "output_audio": 1000]),
    CachedAudioCase(
        base: CostCase(
            name: "gpt-realtime cached audio as cached text", provider: "openai", model: "gpt-realtime",
            input: 60000, cached: 40000, output: 1000, inputAudio: 30000, outputAudio: 800,
            expected: "0.4304",
            why:
                "10000×4 = 0.04; 20000×0.40 = 0.008; 10000×32 = 0.32; 20000×0.40 = 0.008; 200×16 = 0.0032; "
                + "800×64 = 0.0512"),
        cachedAudio: 20000,
        lines: [
            "input": 10000, "cached_input": 20000, "input_audio": 10000, "cached_input_audio": 20000, "output": 200,
            "output_audio": 800,
        ]),
    CachedAudioCase(
        base: CostCase(
            name: "gpt-4o-realtime-preview cached audio", provider: "openai", model: "gpt-4o-realtime-preview",
            input: 10000, cached: 6000, inputAudio: 8000,
            expected: "0.14",
            why: "1000×5 = 0.005; 1000×2.50 = 0.0025; 3000×40 = 0.12; 5000×2.50 = 0.0125"),
        cachedAudio: 5000,
        lines: ["input": 1000, "cached_input": 1000, "input_audio": 3000, "cached_input_audio": 5000]),
    CachedAudioCase(
        base: CostCase(
            name: "gpt-4o-realtime-preview in November 2024: cached audio was $20", provider: "openai",
            model: "gpt-4o-realtime-preview", at: "2024-11-01T12:00:00Z", input: 10000, cached: 6000,
            inputAudio: 8000,
            expected: "0.4075",
            why: "1000×5 = 0.005; 1000×2.50 = 0.0025; 3000×100 = 0.3; 5000×20 = 0.1"),
        cachedAudio: 5000,
        lines: ["input": 1000, "cached_input": 1000, "input_audio": 3000, "cached_input_audio": 5000]),
    CachedAudioCase(
        base: CostCase(
            name: "gpt-4o-mini-realtime-preview cached audio", provider: "openai",
            model: "gpt-4o-mini-realtime-preview-2024-12-17", input: 1000, cached: 1000, inputAudio: 1000,
            expected: "0.0003", why: "1000×0.30"),
        cachedAudio: 1000,
        lines: ["cached_input_audio": 1000]),
    CachedAudioCase(
        base: CostCase(
            name: "gemini 2.5 flash cached audio", provider: "google", model: "gemini-2.5-flash", input: 200_000,
            cached: 150_000, output: 1000, inputAudio: 120_000,
            expected: "0.043",
            why: "30000×0.30 = 0.009; 50000×0.03 = 0.0015; 20000×1.00 = 0.02; 100000×0.10 = 0.01; 1000×2.50 = 0.0025"),
        cachedAudio: 100_000,
        lines: [
            "input": 30000, "cached_input": 50000, "input_audio": 20000, "cached_input_audio": 100_000, "output": 1000,
        ]),
    CachedAudioCase(
        base: CostCase(
            name: "gemini 2.5 flash-lite all cached audio", provider: "google", model: "gemini-2.5-flash-lite",
            input: 1_000_000, cached: 1_000_000, inputAudio: 1_000_000,
            expected: "0.03", why: "1000000×0.03 (not 0.01 cached text + 0.30 audio)"),
        cachedAudio: 1_000_000,
        lines: ["cached_input_audio": 1_000_000]),
    CachedAudioCase(
        base: CostCase(
            name: "gemini 3 flash preview cached audio", provider: "google", model: "gemini-3-flash-preview",
            input: 100_000, cached: 80000, inputAudio: 100_000,
            expected: "0.028", why: "text 0; cached text 0; 20000×1.00 = 0.02; 80000×0.10 = 0.008"),
        cachedAudio: 80000,
        lines: ["input_audio": 20000, "cached_input_audio": 80000]),
    CachedAudioCase(
        base: CostCase(
            name: "gemini 3.1 flash-lite cached audio", provider: "google", model: "gemini-3.1-flash-lite",
            input: 50000, cached: 30000, output: 1000, inputAudio: 20000,
            expected: "0.01",
            why:
                "10000×0.25 = 0.0025; 20000×0.025 = 0.0005; 10000×0.50 = 0.005; 10000×0.05 = 0.0005; 1000×1.50 = 0.0015"
        ),
        cachedAudio: 10000,
        lines: [
            "input": 10000, "cached_input": 20000, "input_audio": 10000, "cached_input_audio": 10000, "output": 1000,
        ]),
    CachedAudioCase(
        base: CostCase(
            name: "gemini 2.0 flash cached audio", provider: "google", model: "gemini-2.0-flash-001", input: 100_000,
            cached: 100_000, inputAudio: 100_000,
            expected: "0.0175", why: "100000×0.175"),
        cachedAudio: 100_000,
        lines: ["cached_input_audio": 100_000]),
]

@Suite struct CachedAudioCostTests {
    let pricer = CatalogPricer()

    @Test(arguments: cachedAudioCases)
    func cost(_ c: CachedAudioCase) throws {
        let breakdown = try #require(pricer.breakdown(c.event, organizationID: "org"))
        #expect(breakdown.cost.decimalString == c.base.expected, "\(c.base.name): \(c.base.why)")
        let lines = Dictionary(uniqueKeysWithValues: breakdown.lines.map { ($0.tokenClass, $0.tokens) })
        #expect(lines == c.lines)
        // Every input token is on exactly one line.
        let inputClasses = [
            "input", "cached_input", "cache_write_5m", "cache_write_1h", "input_audio", "cached_input_audio",
        ]
        #expect(inputClasses.reduce(0) { $0 + (lines[$1] ?? 0) } == c.base.input)
        // The cached-audio line comes right after the audio line.
        let order = breakdown.lines.map(\.tokenClass)
        if let audio = order.firstIndex(of: "input_audio") {
            #expect(order[audio + 1] == "cached_input_audio")
        }
    }

    /// A price set without a cached-audio rate bills cached audio at the cached-input rate, and one without either at
    /// the input rate; with no cached audio the lines are what they were before the class existed.
    @Test func withoutARateOfItsOwnCachedAudioIsACacheRead() {
        func entry(_ rates: [TokenClass: String]) -> PriceEntry {
            PriceEntry(
                id: "t", provider: "openai", model: "m", from: CivilDate(year: 2026, month: 1, day: 1),
                prices: PriceSet(rates.mapValues { Rate(decimal: $0)! }))
        }
        var u = TokenUsage()
        u.inputTokens = 10000
        u.cachedInputTokens = 6000
        u.inputAudioTokens = 5000
        u.cachedInputAudioTokens = 4000
        func cost(_ e: PriceEntry, _ u: TokenUsage) -> String {
            CostEngine.price(u, batch: false, serviceTier: nil, entry: e, modelResolved: "m").cost.decimalString
        }
        // 10000−6000−1000 = 3000×1 = 0.003; 2000×0.5 = 0.001; 1000×8 = 0.008; 4000×0.5 (the cached rate) = 0.002
        #expect(cost(entry([.input: "1", .cachedInput: "0.5", .inputAudio: "8"]), u) == "0.014")
        // No cached rate either: 3000×1 + 2000×1 + 1000×8 + 4000×1 = 0.017
        #expect(cost(entry([.input: "1", .inputAudio: "8"]), u) == "0.017")
        // A rate of its own: 0.003 + 0.001 + 0.008 + 4000×2 = 0.008 → 0.02
        #expect(cost(entry([.input: "1", .cachedInput: "0.5", .inputAudio: "8", .cachedInputAudio: "2"]), u) == "0.02")
        // Without cached audio the cached-audio rate changes nothing: 4000×1 + 6000×0.5 + ... as before the class.
        u.cachedInputAudioTokens = 0
        // 10000−6000−5000 < 0 → 0 text; 6000×0.5 = 0.003; 5000×8 = 0.04
        #expect(
            cost(entry([.input: "1", .cachedInput: "0.5", .inputAudio: "8", .cachedInputAudio: "2"]), u) == "0.043")
        #expect(cost(entry([.input: "1", .cachedInput: "0.5", .inputAudio: "8"]), u) == "0.043")
    }

    /// Counts no rule judged (a provider report's row) that put more cached audio than cached or audio tokens are
    /// capped by both: no line is negative and no token is billed twice.
    @Test func cachedAudioBeyondItsCountsIsCapped() {
        let e = PriceEntry(
            id: "t", provider: "openai", model: "m", from: CivilDate(year: 2026, month: 1, day: 1),
            prices: PriceSet([.input: Rate(decimal: "1")!, .cachedInputAudio: Rate(decimal: "1")!]))
        var u = TokenUsage()
        u.inputTokens = 1000
        u.cachedInputTokens = 300
        u.inputAudioTokens = 500
        u.cachedInputAudioTokens = 900
        let b = CostEngine.price(u, batch: false, serviceTier: nil, entry: e, modelResolved: "m")
        let lines = Dictionary(uniqueKeysWithValues: b.lines.map { ($0.tokenClass, $0.tokens) })
        // cached audio = min(900, 300, 500) = 300: no cached text, 200 uncached audio, 1000−300−200 = 500 text.
        #expect(lines == ["input": 500, "input_audio": 200, "cached_input_audio": 300])
        #expect(b.lines.allSatisfy { $0.tokens > 0 })
    }
}

@Suite struct CachedAudioImportTests {
    /// LiteLLM names the rate `cache_read_input_audio_token_cost`; the import keeps it as the cached-audio rate.
    @Test func liteLLMCachedAudioRateIsImported() throws {
        let json = #"""
            {"gpt-realtime-mini": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 6e-07,
                "cache_read_input_token_cost": 6e-08, "input_cost_per_audio_token": 1e-05,
                "cache_read_input_audio_token_cost": 3e-07, "output_cost_per_token": 2.4e-06}}
            """#
        let result = try LiteLLMImport.entries(Array(json.utf8), from: CivilDate(year: 2026, month: 11, day: 1))
        let entry = try CatalogFile.parseEntry(
            try #require(result.entries.first), origin: .organization("org"), at: "e")
        #expect(entry.prices.rates[.cachedInputAudio]?.decimalString == "0.3")
        #expect(entry.prices.rate(.cachedInput).decimalString == "0.06")
    }
}

/// Provider payloads mapped by the code the gateway and the sync use, then priced: cached audio at its own rate, once.
@Suite struct CachedAudioGoldenTests {
    let pricer = CatalogPricer()

    func cost(_ usage: TokenUsage, provider: String, model: String) -> String? {
        var e = UsageEvent(
            id: "e", timestamp: Instant(rfc3339: "2026-11-01T00:00:00Z")!, provider: provider, model: model)
        e.usage = usage
        return pricer.quote(e, organizationID: "org")?.cost.decimalString
    }

    @Test func geminiCachedAudio() throws {
        let u = ProviderUsage.gemini(
            try JSONParser.parse(
                Array(
                    """
                    {"promptTokenCount":200000,"cachedContentTokenCount":150000,"candidatesTokenCount":1000,
                     "promptTokensDetails":[{"modality":"TEXT","tokenCount":80000},{"modality":"AUDIO","tokenCount":120000}],
                     "cacheTokensDetails":[{"modality":"TEXT","tokenCount":50000},{"modality":"AUDIO","tokenCount":100000}]}
                    """.utf8)))
        // gemini-2.5-flash: 30000×0.30 + 50000×0.03 + 20000×1.00 + 100000×0.10 + 1000×2.50 (per 1M)
        // = 0.009 + 0.0015 + 0.02 + 0.01 + 0.0025. Before the class: 0.0045 cached text + 0.12 audio + 0.0025.
        #expect(cost(u, provider: "google", model: "gemini-2.5-flash") == "0.043")
    }

    @Test func openAIRealtimeShapedCachedAudio() throws {
        let u = ProviderUsage.openAIChat(
            try JSONParser.parse(
                Array(
                    """
                    {"prompt_tokens":10000,"completion_tokens":500,
                     "prompt_tokens_details":{"cached_tokens":7000,"audio_tokens":5000,
                       "cached_tokens_details":{"text_tokens":3000,"audio_tokens":4000}},
                     "completion_tokens_details":{"audio_tokens":500}}
                    """.utf8)))
        // gpt-realtime-mini: 2000×0.60 + 3000×0.06 + 1000×10 + 4000×0.30 + 500×20 (per 1M)
        // = 0.0012 + 0.00018 + 0.01 + 0.0012 + 0.01
        #expect(cost(u, provider: "openai", model: "gpt-realtime-mini") == "0.02258")
    }

    @Test func openAIUsageReportRowWithCachedAudio() throws {
        let page = try ReportDecoding.openAIUsage(
            try JSONParser.parse(
                Array(
                    """
                    {"object":"page","data":[{"object":"bucket","start_time":1767225600,"end_time":1767312000,
                     "results":[{"object":"organization.usage.completions.result","input_tokens":10000,
                      "input_cached_tokens":7000,"output_tokens":0,"input_audio_tokens":1000,
                      "input_cached_audio_tokens":4000,"num_model_requests":1,"model":"gpt-realtime-mini"}]}],
                     "has_more":false,"next_page":null}
                    """.utf8)), report: .openAICompletions)
        let u = try #require(page.buckets.first?.rows.first).usage
        // 2000 text + 3000 cached text + 1000 audio + 4000 cached audio: 0.0012 + 0.00018 + 0.01 + 0.0012
        #expect(cost(u, provider: "openai", model: "gpt-realtime-mini") == "0.01258")
    }
}
