import TallyProviders
import Testing

@testable import TallyAggregate
@testable import TallyCore
@testable import TallyIngest

/// Numbers an attacker (or a broken client or upstream) can send, as JSON literals: every decoder must answer with a
/// value inside the limits or a problem naming the field, never trap (a Swift trap ends every request on the server).
let hostileNumbers = [
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "-1", "-0", "0",
    "1e308", "-1e308", "1e15", "1E2", "1.5", "0.0", "1000000000000", "1000000000001", "999999999999999999",
    "99999999999999999999999999999999999999999", "4294967296", "2147483648",
    #""9999999999""#, #""9999999999.999999999""#, #""-0""#, #""1e308""#, #""99999999999999999999""#,
    #""1000000000""#, #""1000000000.000000001""#, #""0.0000000001""#, #""""#, "null", "true", "[]", "{}",
]

@Suite struct HostileEventDecoderTests {
    static let numericFields =
        EventRules.counts + ["http_status", "latency_ms", "time_to_first_token_ms", "retries", "provider_cost_usd"]

    func body(_ field: String, _ literal: String) -> String {
        #"{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"gpt-4o","input_tokens":1000000000000,"output_tokens":1000000000000,"#
            + #""\#(field)":\#(literal)}"#
    }

    /// Every numeric field × every hostile literal, as JSON and NDJSON: accepted within the limits, or refused by name.
    @Test func everyNumericFieldTakesEveryHostileLiteralWithoutTrapping() {
        let now = Instant(rfc3339: "2026-11-20T12:00:00Z")!
        for field in Self.numericFields {
            for literal in hostileNumbers {
                for format in [EventDecoder.Format.json, .ndjson] {
                    let text =
                        format == .json
                        ? "[" + body(field, literal) + "]" : body(field, literal) + "\n" + body(field, "1") + "\n"
                    do {
                        let events = try EventDecoder.decode(Array(text.utf8), format: format, now: now)
                        for e in events {
                            #expect(e.usage.boundsProblem == nil, "\(field)=\(literal)")
                            #expect(
                                (e.providerCost ?? .zero) <= UsageLimits.maxAmount && (e.providerCost ?? .zero) >= .zero
                            )
                        }
                    } catch {
                        guard case .invalid(let problems) = error else {
                            Issue.record("\(field)=\(literal): \(error)"); continue
                        }
                        #expect(
                            !problems.isEmpty
                                && problems.allSatisfy { $0.field == field || $0.field.hasSuffix("tokens") },
                            "\(field)=\(literal): \(problems)")
                    }
                }
            }
        }
    }

    @Test func tokensAreBoundedAtTenToTheTwelfth() throws {
        let now = Instant(rfc3339: "2026-11-20T12:00:00Z")!
        let ok = try EventDecoder.decode(Array(body("requests", "1000000000000").utf8), format: .json, now: now)
        #expect(ok[0].usage.outputTokens == 1_000_000_000_000 && ok[0].usage.requests == 1_000_000_000_000)
        for field in ["output_tokens", "requests"] {
            let text =
                #"{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"gpt-4o","\#(field)":1000000000001}"#
            #expect(
                throws: TallyError.invalid([
                    FieldProblem(index: 0, field: field, reason: "must be at most 1000000000000 (got 1000000000001)")
                ])
            ) {
                try EventDecoder.decode(Array(text.utf8), format: .json, now: now)
            }
        }
    }

    @Test func providerCostIsBoundedAtOneBillionDollars() throws {
        let now = Instant(rfc3339: "2026-11-20T12:00:00Z")!
        func decode(_ cost: String) throws(TallyError) -> UsageEvent {
            let text =
                #"{"timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"gpt-4o","provider_cost_usd":\#(cost)}"#
            return try EventDecoder.decode(Array(text.utf8), format: .json, now: now)[0]
        }
        #expect(try decode(#""1000000000""#).providerCost == UsageLimits.maxAmount)
        #expect(try decode(#""-0""#).providerCost == .zero)
        // "9999999999" used to overflow Int64 nano-dollars while parsing: a trap that ended the server.
        for bad in [#""9999999999""#, #""9000000000""#, #""1000000000.000000001""#, "9999999999", #""-1""#] {
            do {
                _ = try decode(bad)
                Issue.record("\(bad) was accepted")
            } catch {
                guard case .invalid(let problems) = error else { Issue.record("\(error)"); continue }
                #expect(problems.map(\.field) == ["provider_cost_usd"], "\(bad)")
            }
        }
    }

    @Test func decimalAndLiteralParsingNeverTraps() {
        #expect(USD(decimal: "9999999999") == nil)
        #expect(USD(decimal: "9223372036.854775807")?.nanos == Int64.max)
        #expect(USD(decimal: "9223372036.854775808") == nil)
        #expect(USD(decimal: "-9223372036.854775807")?.nanos == -Int64.max)
        for text in [
            "999999999999999999999999999999e11", "999999999999999999999999999999e20", "1e40", "1e-40", "-1e20",
            "9223372036854775807e9", "123456789012345678901234567890", "1e", "e5", "-", ".", "1.2.3",
        ] {
            if let usd = USD(literal: text) { #expect(usd.nanos.magnitude <= UInt64(Int64.max)) }
            if let usd = USD(literal: text, shift: 2) { #expect(usd.nanos.magnitude <= UInt64(Int64.max)) }
        }
        #expect(USD(literal: "999999999999999999999999999999e11") == nil)
        #expect(USD(nanos: Int64.max).adding(USD(nanos: 1)) == nil)
    }
}

@Suite struct HostileProviderUsageTests {
    static let usageKeys = [
        "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "cache_read_input_tokens",
        "cache_creation_input_tokens", "promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount",
        "toolUsePromptTokenCount", "cachedContentTokenCount",
    ]

    func usage(_ key: String, _ literal: String) -> JSONValue {
        let nested =
            #"{"cached_tokens":\#(literal),"audio_tokens":\#(literal),"reasoning_tokens":\#(literal),"cache_write_tokens":\#(literal),"ephemeral_5m_input_tokens":\#(literal),"ephemeral_1h_input_tokens":\#(literal),"thinking_tokens":\#(literal)}"#
        let modality = #"[{"modality":"AUDIO","tokenCount":\#(literal)},{"modality":"AUDIO","tokenCount":\#(literal)}]"#
        let text =
            #"{"\#(key)":\#(literal),"input_tokens":1,"prompt_tokens_details":\#(nested),"completion_tokens_details":\#(nested),"input_tokens_details":\#(nested),"output_tokens_details":\#(nested),"cache_creation":\#(nested),"promptTokensDetails":\#(modality),"cacheTokensDetails":\#(modality),"candidatesTokensDetails":\#(modality)}"#
        return try! JSONParser.parse(Array(text.utf8))
    }

    /// OpenAI chat and responses, Anthropic and Gemini usage objects: no trap, and a count beyond the limit (or not a
    /// count) shows as a bounds problem the gateway turns into a marked event.
    @Test func providerUsageObjectsNeverTrapAndFlagAbsurdCounts() {
        let decoders: [(String, (JSONValue) -> TokenUsage)] = [
            ("openai-chat", ProviderUsage.openAIChat), ("openai-responses", ProviderUsage.openAIResponses),
            ("anthropic", ProviderUsage.anthropic), ("gemini", ProviderUsage.gemini),
        ]
        for (name, decode) in decoders {
            for key in Self.usageKeys {
                for literal in hostileNumbers {
                    let u = decode(usage(key, literal))
                    for (field, value) in u.fields {
                        #expect(value >= 0 && value <= UsageLimits.maxCount * 8, "\(name) \(key)=\(literal) \(field)")
                    }
                }
            }
        }
        var anthropic = ProviderUsage.anthropic(usage("input_tokens", "9223372036854775807"))
        #expect(anthropic.boundsProblem?.field == "input_tokens")
        anthropic = ProviderUsage.anthropic(
            try! JSONParser.parse(Array(#"{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":3}"#.utf8)))
        #expect(anthropic.boundsProblem == nil && anthropic.inputTokens == 15 && anthropic.outputTokens == 3)
        #expect(ProviderUsage.gemini(usage("promptTokenCount", "1e308")).boundsProblem != nil)
        #expect(ProviderUsage.openAIChat(usage("prompt_tokens", "-5")).boundsProblem != nil)
    }
}

@Suite struct CheckedTotalsTests {
    func stored(_ id: String, cost: USD, hour: Int64 = 0) -> StoredEvent {
        var e = UsageEvent(
            id: id, timestamp: Instant(microseconds: hour * Instant.microsecondsPerHour), provider: "openai",
            model: "gpt-4o")
        e.providerCost = cost
        return StoredEvent(
            event: e, organizationID: "org", projectID: "p", projectName: "p", receivedAt: e.timestamp, cost: nil,
            priceID: nil)
    }

    @Test func metricSumsThatCannotBeHeldAreRefusedByName() {
        var a = UsageMetrics()
        a.providerCost = USD(nanos: Int64.max - 1)
        var b = UsageMetrics()
        b.providerCost = USD(nanos: 2)
        #expect(throws: TallyError.self) { try a.add(b) }
        do { try a.add(b) } catch {
            guard case .totalTooLarge(let problems) = error else { Issue.record("\(error)"); return }
            #expect(problems.map(\.field) == ["provider_cost_usd"])
        }
        b.providerCost = USD(nanos: 1)
        #expect(throws: Never.self) { try a.add(b) }
        #expect(a.providerCost.nanos == Int64.max)
    }

    /// Ten events of the largest cost in one hour: the batch's rollup increment used to wrap and trap.
    @Test func rollupIncrementsOfOneBatchAreChecked() {
        let max = (0..<9).map { stored("e\($0)", cost: UsageLimits.maxAmount) }
        #expect(throws: Never.self) { try RollupDelta.compute(max) }
        let tooMany = max + [stored("e9", cost: UsageLimits.maxAmount)]
        #expect(throws: TallyError.self) { try RollupDelta.compute(tooMany) }
        // In different hours they are separate rollup rows (the daily row still holds all ten: refused too).
        #expect(throws: TallyError.self) {
            try RollupDelta.compute((0..<10).map { stored("h\($0)", cost: UsageLimits.maxAmount, hour: Int64($0)) })
        }
    }

    @Test func summariesStopAtTenThousandGroups() throws {
        var acc = SummaryAccumulator(dimensions: [.user])
        var m = UsageMetrics()
        m.requests = 1
        for i in 0..<SummaryAccumulator.maxGroups { try acc.add(period: nil, values: ["u\(i)"], metrics: m) }
        // The same group again is fine; one more group is not.
        try acc.add(period: nil, values: ["u0"], metrics: m)
        #expect(throws: TallyError.tooManyGroups(limit: 10_000)) {
            try acc.add(period: nil, values: ["another"], metrics: m)
        }
        #expect(try acc.result().totals.requests == 10_001)
    }
}

@Suite struct SharedAttributionRulesTests {
    @Test func gatewayAttributionIsHeldToTheAPIRules() {
        #expect(EventRules.attributionProblems(Attribution(user: "\u{0}")).map(\.field) == ["user"])
        #expect(
            EventRules.attributionProblems(Attribution(environment: String(repeating: "e", count: 65))).map(\.field)
                == ["environment"])
        #expect(EventRules.attributionProblems(Attribution(environment: String(repeating: "e", count: 64))).isEmpty)
        #expect(
            EventRules.attributionProblems(
                Attribution(feature: "a\u{7F}b", apiKey: "sk-proj-abcdefghijklmnopqrstuvwxyz")
            ).map(\.field) == ["feature", "api_key"])
        let tags = Dictionary(uniqueKeysWithValues: (0..<33).map { ("t\($0)", "v") })
        #expect(EventRules.attributionProblems(Attribution(tags: tags)).map(\.field) == ["tags"])
        #expect(EventRules.attributionProblems(Attribution(user: "ünïcödé user", environment: "prod")).isEmpty)
    }

    @Test func theGatewayKeepsOnlyWhatTheAPIWouldAccept() {
        let (kept, refused) = EventRules.withoutRefusedValues(
            Attribution(
                feature: "search", user: "\u{0}", environment: String(repeating: "e", count: 65),
                tags: ["team": "a\u{1}b"]))
        #expect(refused == ["environment", "user"])
        #expect(kept == Attribution(feature: "search", tags: ["team": "a\u{1}b"]))
        let long = EventRules.withoutRefusedValues(Attribution(user: String(repeating: "u", count: 257)))
        #expect(long.refused == ["user"] && long.attribution.user == nil)
    }
}
