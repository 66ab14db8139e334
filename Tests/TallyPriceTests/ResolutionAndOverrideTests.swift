import TallyCore
import TallyPrice
import TallyProviders
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct ModelNameTests {
    @Test(arguments: [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("openai/gpt-4o", "gpt-4o"),
        ("azure/gpt-4o", "gpt-4o"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("GPT-4O-MINI", "gpt-4o-mini"),
    ])
    func candidatesEndWithTheBaseName(_ raw: String, _ base: String) {
        #expect(ModelName.candidates(raw).contains(base))
    }

    @Test func theNameAsGivenIsTriedFirst() {
        #expect(ModelName.candidates("gpt-4o-2024-05-13").first == "gpt-4o-2024-05-13")
    }

    @Test func fineTunedNamesKeepTheirColons() {
        #expect(
            ModelName.candidates("ft:gpt-4o-mini-2024-07-18:acme::abc").first == "ft:gpt-4o-mini-2024-07-18:acme::abc")
    }
}

@Suite struct OrganizationOverrideTests {
    func event(_ at: String, provider: String = "openai", model: String = "gpt-4o") -> UsageEvent {
        var e = UsageEvent(id: "e", timestamp: Instant(rfc3339: at)!, provider: provider, model: model)
        e.usage.inputTokens = 1000
        e.usage.outputTokens = 500
        return e
    }

    func negotiated(provider: String? = nil, from: String = "2026-11-10", to: String? = nil) throws -> PriceEntry {
        var fields: [(String, JSONValue)] = [
            ("model", .string("gpt-4o")), ("from", .string(from)),
            ("prices", .object([("input", .string("2.00")), ("output", .string("8.00"))])),
        ]
        if let provider { fields.append(("provider", .string(provider))) }
        if let to { fields.append(("to", .string(to))) }
        var entry = try CatalogFile.parseEntry(.object(fields), origin: .organization("org"), at: "entry")
        entry.id = "price_negotiated"
        return entry
    }

    @Test func anOverrideWinsFromItsDateOnAndNotBefore() throws {
        let pricer = CatalogPricer()
        pricer.setOrganizationEntries([try negotiated()], organizationID: "org")
        // Before: list price 1000×2.50 + 500×10 = 0.0075. From 2026-11-10: 1000×2 + 500×8 = 0.006.
        #expect(pricer.quote(event("2026-11-09T23:59:59Z"), organizationID: "org")?.cost.decimalString == "0.0075")
        let after = pricer.quote(event("2026-11-10T00:00:00Z"), organizationID: "org")
        #expect(after?.cost.decimalString == "0.006")
        #expect(after?.priceID == "price_negotiated")
        // A dated snapshot billed as gpt-4o gets the negotiated price too.
        #expect(
            pricer.quote(event("2026-11-11T00:00:00Z", model: "gpt-4o-2024-08-06"), organizationID: "org")?.cost
                .decimalString == "0.006")
    }

    @Test func anOverrideIsTheOrganizationsOwn() throws {
        let pricer = CatalogPricer()
        pricer.setOrganizationEntries([try negotiated()], organizationID: "org")
        #expect(pricer.quote(event("2026-11-11T00:00:00Z"), organizationID: "other")?.cost.decimalString == "0.0075")
    }

    @Test func aRoutePriceAppliesToItsProviderOnly() throws {
        let pricer = CatalogPricer()
        pricer.setOrganizationEntries([try negotiated(provider: "azure_openai")], organizationID: "org")
        #expect(
            pricer.quote(
                event("2026-11-11T00:00:00Z", provider: "azure_openai", model: "azure/gpt-4o"), organizationID: "org")?
                .cost.decimalString == "0.006")
        #expect(pricer.quote(event("2026-11-11T00:00:00Z"), organizationID: "org")?.cost.decimalString == "0.0075")
    }

    @Test func anEndedOverrideStopsApplying() throws {
        let pricer = CatalogPricer()
        pricer.setOrganizationEntries([try negotiated(to: "2026-11-20")], organizationID: "org")
        #expect(pricer.quote(event("2026-11-19T12:00:00Z"), organizationID: "org")?.cost.decimalString == "0.006")
        #expect(pricer.quote(event("2026-11-20T00:00:00Z"), organizationID: "org")?.cost.decimalString == "0.0075")
    }

    @Test func aSelfHostedModelCanBePriced() throws {
        let pricer = CatalogPricer()
        let entry = try CatalogFile.parseEntry(
            .object([
                ("model", .string("my-llama-70b")), ("from", .string("2026-01-01")),
                ("prices", .object([("input", .string("0.10")), ("output", .string("0.10"))])),
            ]), origin: .organization("org"), at: "entry")
        #expect(
            pricer.quote(
                event("2026-11-11T00:00:00Z", provider: "self_hosted", model: "my-llama-70b"), organizationID: "org")
                == nil)
        pricer.setOrganizationEntries([entry], organizationID: "org")
        // 1000×0.10 + 500×0.10 = 0.00015
        #expect(
            pricer.quote(
                event("2026-11-11T00:00:00Z", provider: "self_hosted", model: "my-llama-70b"), organizationID: "org")?
                .cost.decimalString == "0.00015")
    }
}

@Suite struct CatalogFileTests {
    @Test func theBuiltInCatalogParsesAndIdsAreUnique() throws {
        let entries = PriceCatalog.builtIn.entries
        #expect(entries.count > 50)
        #expect(Set(entries.map(\.id)).count == entries.count)
        for e in entries {
            #expect(e.source?.hasPrefix("https://") == true, "\(e.id) names its source")
            #expect(e.checked != nil, "\(e.id) says when it was checked")
        }
    }

    /// A name points to one entry on any day: an entry's days, narrowed by a dated alias's own days.
    @Test func noTwoEntriesForOneNameOverlapInTime() {
        struct Span {
            var id: String
            var from: CivilDate
            var to: CivilDate?
        }
        var byName: [String: [Span]] = [:]
        for e in PriceCatalog.builtIn.entries {
            byName[e.model, default: []].append(Span(id: e.id, from: e.from, to: e.to))
            for a in e.aliases where a.name != e.model {
                let from = max(e.from, a.from ?? e.from)
                let to = [e.to, a.to].compactMap { $0 }.min()
                if let to, to <= from { continue }
                byName[a.name, default: []].append(Span(id: e.id, from: from, to: to))
            }
        }
        for (name, list) in byName {
            let sorted = list.sorted { $0.from < $1.from }
            for (a, b) in zip(sorted, sorted.dropFirst()) {
                #expect(a.to != nil && a.to! <= b.from, "\(name): \(a.id) overlaps \(b.id)")
            }
        }
    }

    @Test(arguments: [
        (
            #"{"entries":[{"provider":"openai","model":"x","from":"2026-01-01","source":"https://x","prices":{"input":"1.5.0"}}]}"#,
            "entries[0].prices.input"
        ),
        (
            #"{"entries":[{"provider":"openai","model":"x","from":"2026-13-01","source":"https://x","prices":{"input":"1"}}]}"#,
            "entries[0].from"
        ),
        (
            #"{"entries":[{"provider":"openai","model":"x","from":"2026-01-01","source":"https://x","prices":{"inptu":"1"}}]}"#,
            "entries[0].prices.inptu"
        ),
        (
            #"{"entries":[{"provider":"openai","from":"2026-01-01","source":"https://x","prices":{"input":"1"}}]}"#,
            "entries[0].model"
        ),
        (
            #"{"entries":[{"provider":"openai","model":"x","from":"2026-01-01","to":"2025-01-01","source":"https://x","prices":{"input":"1"}}]}"#,
            "entries[0].to"
        ),
    ])
    func aBadEntryIsNamedByField(_ json: String, _ field: String) {
        do {
            _ = try CatalogFile.parse(Array(json.utf8))
            Issue.record("accepted a bad catalog")
        } catch {
            #expect("\(error)".hasPrefix(field), "\(error)")
        }
    }
}

@Suite struct LiteLLMImportTests {
    @Test func perTokenNumbersBecomeExactPerMillionDecimals() throws {
        let json = #"""
            {"sample_spec": {"input_cost_per_token": 0},
             "gpt-4o": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-06,
                        "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06,
                        "input_cost_per_token_batches": 1.25e-06},
             "azure/gpt-4o": {"litellm_provider": "azure", "mode": "chat", "input_cost_per_token": 0.0000027, "output_cost_per_token": 0.000011},
             "gemini/gemini-2.5-pro": {"litellm_provider": "gemini", "mode": "chat", "input_cost_per_token": 1.25e-06,
                        "output_cost_per_token": 1e-05, "input_cost_per_token_above_200k_tokens": 2.5e-06,
                        "output_cost_per_token_above_200k_tokens": 1.5e-05},
             "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_pixel": 1e-07}}
            """#
        let result = try LiteLLMImport.entries(Array(json.utf8), from: CivilDate(year: 2026, month: 11, day: 1))
        #expect(result.entries.count == 3)
        #expect(result.skipped.map(\.model) == ["dall-e-3"])
        let entries = try result.entries.map { try CatalogFile.parseEntry($0, origin: .organization("org"), at: "e") }
        let gpt = try #require(entries.first { $0.model == "gpt-4o" && $0.provider == "openai" })
        #expect(gpt.prices.rate(.input).decimalString == "2.5")
        #expect(gpt.prices.rate(.output).decimalString == "10")
        #expect(gpt.prices.rate(.cachedInput).decimalString == "1.25")
        #expect(gpt.batch?.decimalString == "0.5")
        let azure = try #require(entries.first { $0.provider == "azure_openai" })
        #expect(azure.model == "gpt-4o")
        #expect(azure.prices.rate(.input).decimalString == "2.7")
        let gemini = try #require(entries.first { $0.provider == "google" })
        #expect(gemini.contextTiers.first?.aboveInputTokens == 200_000)
        #expect(gemini.contextTiers.first?.prices.rate(.output).decimalString == "15")
    }
}

/// Real usage payloads of each provider (docs/reference shapes), mapped by the code the gateway uses, then priced.
@Suite struct GoldenProviderUsageTests {
    let pricer = CatalogPricer()

    func cost(_ usage: TokenUsage, provider: String, model: String) -> String? {
        var e = UsageEvent(
            id: "e", timestamp: Instant(rfc3339: "2026-11-01T00:00:00Z")!, provider: provider, model: model)
        e.usage = usage
        return pricer.quote(e, organizationID: "org")?.cost.decimalString
    }

    func parse(_ s: String) throws -> JSONValue { try JSONParser.parse(Array(s.utf8)) }

    @Test func openAIChatCompletionUsage() throws {
        let usage = try parse(
            #"""
            {"prompt_tokens": 1200, "completion_tokens": 340, "total_tokens": 1540,
             "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0, "text_tokens": 176, "image_tokens": 0, "cache_write_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                           "rejected_prediction_tokens": 0, "text_tokens": 212}}
            """#)
        let u = ProviderUsage.openAIChat(usage)
        #expect(
            u.inputTokens == 1200 && u.cachedInputTokens == 1024 && u.outputTokens == 340 && u.reasoningTokens == 128)
        // 176×0.15 + 1024×0.075 + 212×0.60 + 128×0.60 (per 1M) = 0.0000264 + 0.0000768 + 0.0001272 + 0.0000768
        #expect(cost(u, provider: "openai", model: "gpt-4o-mini-2024-07-18") == "0.0003072")
    }

    @Test func openAIStreamingFinalChunkUsage() throws {
        let usage = try parse(
            #"""
            {"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},
             "completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}
            """#)
        // 9×0.15 + 2×0.60 = 0.00000135 + 0.0000012
        #expect(
            cost(ProviderUsage.openAIChat(usage), provider: "openai", model: "gpt-4o-mini-2024-07-18") == "0.00000255")
    }

    @Test func openAIResponsesUsage() throws {
        let usage = try parse(
            #"""
            {"input_tokens": 1500, "input_tokens_details": {"cached_tokens": 1280, "cache_write_tokens": 0},
             "output_tokens": 420, "output_tokens_details": {"reasoning_tokens": 256}, "total_tokens": 1920}
            """#)
        // o4-mini: 220×1.10 + 1280×0.275 + 164×4.40 + 256×4.40 = 0.000242 + 0.000352 + 0.0007216 + 0.0011264
        #expect(cost(ProviderUsage.openAIResponses(usage), provider: "openai", model: "o4-mini") == "0.002442")
    }

    @Test func anthropicCacheWriteUsage() throws {
        let usage = try parse(
            #"""
            {"input_tokens": 12, "cache_creation_input_tokens": 2048, "cache_read_input_tokens": 0,
             "cache_creation": {"ephemeral_5m_input_tokens": 2048, "ephemeral_1h_input_tokens": 0},
             "output_tokens": 5, "server_tool_use": null, "service_tier": "standard"}
            """#)
        let u = ProviderUsage.anthropic(usage)
        #expect(u.inputTokens == 2060, "Anthropic's input_tokens excludes cache writes: 12 + 2048")
        #expect(u.cacheWriteInputTokens == 2048 && u.cacheWrite1hInputTokens == 0)
        // claude-sonnet-4: 12×3 + 2048×3.75 + 5×15 = 0.000036 + 0.00768 + 0.000075
        #expect(cost(u, provider: "anthropic", model: "claude-sonnet-4-20250514") == "0.007791")
    }

    @Test func anthropicStreamedUsageMerged() throws {
        // message_start's usage, then message_delta's output_tokens overwrites (never adds).
        var start = try parse(
            #"{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":2048,"output_tokens":1,"service_tier":"standard"}"#
        )
        if case .object(var m) = start, let i = m.firstIndex(where: { $0.0 == "output_tokens" }) {
            m[i].1 = .number("5")
            start = .object(m)
        }
        let u = ProviderUsage.anthropic(start)
        #expect(u.inputTokens == 2060 && u.cachedInputTokens == 2048 && u.outputTokens == 5)
        // 12×3 + 2048×0.30 + 5×15 = 0.000036 + 0.0006144 + 0.000075
        #expect(cost(u, provider: "anthropic", model: "claude-sonnet-4-20250514") == "0.0007254")
    }

    @Test func anthropicOneHourCacheSplit() throws {
        let usage = try parse(
            #"""
            {"input_tokens": 100, "cache_creation_input_tokens": 3000, "cache_read_input_tokens": 500,
             "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000}, "output_tokens": 200}
            """#)
        let u = ProviderUsage.anthropic(usage)
        #expect(u.inputTokens == 3600 && u.cacheWrite1hInputTokens == 2000)
        // haiku 4.5: 100×1 + 500×0.10 + 1000×1.25 + 2000×2 + 200×5 = 0.0001 + 0.00005 + 0.00125 + 0.004 + 0.001
        #expect(cost(u, provider: "anthropic", model: "claude-haiku-4-5") == "0.0064")
    }

    @Test func geminiUsageMetadata() throws {
        let metadata = try parse(
            #"""
            {"promptTokenCount": 1030, "cachedContentTokenCount": 1024, "candidatesTokenCount": 3, "thoughtsTokenCount": 40,
             "totalTokenCount": 1073, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1030}]}
            """#)
        let u = ProviderUsage.gemini(metadata)
        #expect(u.inputTokens == 1030 && u.cachedInputTokens == 1024)
        #expect(u.outputTokens == 43 && u.reasoningTokens == 40, "candidatesTokenCount excludes thoughts: 3 + 40")
        // gemini-2.5-flash: 6×0.30 + 1024×0.03 + 3×2.50 + 40×2.50 = 0.0000018 + 0.00003072 + 0.0000075 + 0.0001
        #expect(cost(u, provider: "google", model: "gemini-2.5-flash") == "0.00014002")
    }
}

@Suite struct EmbeddedCatalogTests {
    /// The binary carries prices/catalog.json (scripts/embed-data); they must not drift apart.
    @Test func theEmbeddedCatalogIsTheReviewedFile() throws {
        let root = URLPath(#filePath).parent.parent.parent
        let bytes = try #require(readFile(root + "/prices/catalog.json"))
        #expect(try CatalogFile.parse(bytes) == PriceCatalog.builtIn.entries)
    }
}

struct URLPath {
    var path: String
    init(_ path: String) { self.path = path }
    var parent: URLPath { URLPath(String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])) }
    static func + (a: URLPath, b: String) -> String { a.path + b }
}

func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n <= 0 { break }
        out += buffer[0..<n]
    }
    return out
}

@Suite struct SDKCoverageTests {
    /// Every model the official SDKs name (prices/sdk-models.txt, from scripts/price-gaps) is priced today by the
    /// Swift resolver, or listed with its reason in prices/sdk-models-unpriced.txt.
    @Test func everySDKModelIsPricedOrExplained() throws {
        let root = URLPath(#filePath).parent.parent.parent
        func lines(_ file: String) throws -> [[String]] {
            let bytes = try #require(readFile(root + "/prices/" + file))
            return String(decoding: bytes, as: UTF8.self).split(separator: "\n")
                .filter { !$0.hasPrefix("#") && !$0.isEmpty }.map { $0.split(separator: "\t").map(String.init) }
        }
        let models = try lines("sdk-models.txt")
        let explained = Set(try lines("sdk-models-unpriced.txt").map { $0[0] + "/" + $0[1] })
        #expect(models.count > 150)
        let pricer = CatalogPricer()
        var gaps: [String] = []
        for m in models where !explained.contains(m[0] + "/" + m[1]) {
            let e = UsageEvent(
                id: "e", timestamp: Instant(rfc3339: "2026-11-23T00:00:00Z")!, provider: m[0], model: m[1])
            if pricer.quote(e, organizationID: "org") == nil { gaps.append(m[0] + "/" + m[1]) }
        }
        #expect(gaps.isEmpty, "unpriced and unexplained: \(gaps)")
    }
}
