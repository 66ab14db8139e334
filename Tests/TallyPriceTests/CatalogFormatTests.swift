import TallyCore
import TallyPrice
import Testing

/// The catalog format's additions of issue 16: each field read, each refusal naming the entry and the field, and
/// the entry written back in the same shape.
@Suite struct CatalogFormatTests {
    static let base =
        #""provider":"openai","model":"m","from":"2026-01-01","source":"https://x","prices":{"input":"2","cached_input":"0.2","output":"8"}"#

    func parse(_ entry: String, format: String = "2") throws -> PriceEntry {
        try #require(try CatalogFile.parse(Array(#"{"format":\#(format),"entries":[{\#(entry)}]}"#.utf8)).first)
    }

    func event(
        _ at: String, model: String = "m", input: Int64 = 1_000_000, cached: Int64 = 0, batch: Bool = false,
        tier: String? = nil
    ) -> UsageEvent {
        var e = UsageEvent(
            id: "e", timestamp: Instant(rfc3339: at)!, provider: "openai", model: model, batch: batch, serviceTier: tier
        )
        e.usage.inputTokens = input
        e.usage.cachedInputTokens = cached
        return e
    }

    @Test func formatsOneAndTwoAreReadAndAMissingFormatIsOne() throws {
        _ = try parse(Self.base, format: "1")
        _ = try parse(Self.base, format: "2")
        #expect(try CatalogFile.parse(Array(#"{"entries":[{\#(Self.base)}]}"#.utf8)).count == 1)
    }

    @Test func everyNewFieldIsRead() throws {
        let e = try parse(
            Self.base + #","aliases":["m-1",{"name":"m-latest","from":"2026-02-01","to":"2026-03-01"}],"batch":"0.5","#
                + #""batch_prices":{"cached_input":"0.13"},"service_tier_multipliers":{"Priority":"1.8"},"#
                + #""service_tiers":{"flex":{"input":"1","cached_input":"0.1","output":"4"}},"#
                + #""tiers":[{"above_input_tokens":1000,"prices":{"input":"4","cached_input":"0.4","output":"12"},"#
                + #""batch_prices":{"cached_input":"0.26"},"service_tiers":{"flex":{"input":"2","output":"6"}}}]"#)
        #expect(
            e.aliases == [
                "m-1",
                PriceEntry.Alias(
                    "m-latest", from: CivilDate(parsing: "2026-02-01"),
                    to: CivilDate(parsing: "2026-03-01")),
            ])
        #expect(e.batchPrices == [.cachedInput: Rate(decimal: "0.13")!])
        #expect(e.serviceTierMultipliers == ["priority": Multiplier(decimal: "1.8")!])
        #expect(e.contextTiers.first?.batchPrices == [.cachedInput: Rate(decimal: "0.26")!])
        #expect(e.contextTiers.first?.serviceTiers["flex"]?.rates[.input] == Rate(decimal: "2"))
    }

    @Test(arguments: [
        (#","colour":"blue""#, "entries[0].colour: unknown field"),
        (
            #","tiers":[{"above_input_tokens":10,"prices":{"input":"1"},"speed":"x"}]"#,
            "entries[0].tiers[0].speed: unknown field"
        ),
        (
            #","aliases":[{"name":"x","from":"2026-03-01","to":"2026-02-01"}]"#,
            "entries[0].aliases[0].to: must be after from"
        ),
        (#","aliases":[{"name":"x","from":"2026-02-30"}]"#, "entries[0].aliases[0].from: must be a date"),
        (#","aliases":[{"from":"2026-02-01"}]"#, "entries[0].aliases[0].name: is required"),
        (#","aliases":[{"name":"x","until":"2026-02-01"}]"#, "entries[0].aliases[0].until: unknown field"),
        (#","aliases":[3]"#, "entries[0].aliases[0]: must be a name"),
        (#","id":"openai:m\u0000:2026-01-01""#, "entries[0].id: must not contain control characters"),
        (#","note":"\u001b[31mred""#, "entries[0].note: must not contain control characters"),
        (#","aliases":["m\u0007"]"#, "entries[0].aliases[0]: must not contain control characters"),
        (#","batch_prices":{"cached_input":"0.1"}"#, "entries[0].batch_prices: needs a batch multiplier"),
        (#","batch":"0.5","batch_prices":{"cached":"0.1"}"#, "entries[0].batch_prices.cached: unknown token class"),
        (
            #","service_tier_multipliers":{"flex":"half"}"#,
            "entries[0].service_tier_multipliers.flex: must be a decimal"
        ),
        (
            #","service_tiers":{"flex":{"input":"1"}},"service_tier_multipliers":{"flex":"0.5"}"#,
            "entries[0].service_tier_multipliers.flex: is already priced in service_tiers"
        ),
        (
            #","service_tiers":{"flex":{"input":"1"},"priority":{"input":"3"}},"tiers":[{"above_input_tokens":10,"prices":{"input":"2"},"service_tiers":{"flex":{"input":"1"}}}]"#,
            "entries[0].tiers[0].service_tiers: must price the entry's service tiers (flex, priority)"
        ),
        (
            #","tiers":[{"above_input_tokens":10,"prices":{"input":"2"},"service_tiers":{"flex":{"input":"1"}}}]"#,
            "entries[0].tiers[0].service_tiers: must price the entry's service tiers (none)"
        ),
        (
            #","batch":"0.5","batch_prices":{"cached_input":"0.1"},"tiers":[{"above_input_tokens":10,"prices":{"input":"2"}}]"#,
            "entries[0].tiers[0].batch_prices: must name the classes of the entry's batch_prices (cached_input)"
        ),
        (
            #","tiers":[{"above_input_tokens":10,"prices":{"input":"2"}},{"above_input_tokens":10,"prices":{"input":"3"}}]"#,
            "entries[0].tiers[1].above_input_tokens: another tier starts at 10"
        ),
    ])
    func aBadFieldIsRefusedByEntryAndName(_ extra: String, _ message: String) {
        do {
            _ = try parse(Self.base + extra)
            Issue.record("accepted \(extra)")
        } catch {
            #expect("\(error)".hasPrefix(message), "\(error)")
        }
    }

    @Test func aNewerFormatIsRefused() {
        do {
            _ = try parse(Self.base, format: "3")
            Issue.record("accepted format 3")
        } catch {
            #expect("\(error)".hasPrefix("format: 3 is newer than this Tally reads"), "\(error)")
        }
        #expect(throws: CatalogFile.Problem.self) { try parse(Self.base, format: "\"2\"") }
    }

    @Test func anEntryWrittenBackReadsTheSame() throws {
        let original = try parse(
            Self.base + #","aliases":["m-1",{"name":"m-latest","from":"2026-02-01"}],"batch":"0.5","#
                + #""batch_prices":{"cached_input":"0.13"},"service_tier_multipliers":{"priority":"1.8"},"#
                + #""service_tiers":{"flex":{"input":"1","output":"4"}},"#
                + #""tiers":[{"above_input_tokens":1000,"prices":{"input":"4","output":"12"},"#
                + #""batch_prices":{"cached_input":"0.26"},"service_tiers":{"flex":{"input":"2","output":"6"}}}]"#)
        var w = JSONWriter()
        CatalogFile.writeDefinition(original, into: &w)
        var again = try CatalogFile.parseEntry(
            try JSONParser.parse(Array(w.text.utf8)), origin: .builtIn, at: "entry")
        again.id = original.id
        again.checked = original.checked
        #expect(again == original, "\(w.text)")
    }

    @Test func anOrganizationEntryTakesTheNewFields() throws {
        let json =
            #"{"model":"gpt-4o","from":"2026-01-01","prices":{"input":"2","cached_input":"1","output":"8"},"#
            + #""batch":"0.5","batch_prices":{"cached_input":"1"},"service_tier_multipliers":{"flex":"0.5"},"#
            + #""aliases":[{"name":"team-model","from":"2026-06-01","to":"2026-07-01"}]}"#
        let entry = try CatalogFile.parseOrganizationEntry(
            try JSONParser.parse(Array(json.utf8)), organizationID: "org")
        let pricer = CatalogPricer()
        pricer.setOrganizationEntries([entry], organizationID: "org")
        // The team's own name prices only on its days: 1M × 2 = 2 in June; unpriced on 2026-07-01.
        #expect(
            pricer.quote(event("2026-06-15T00:00:00Z", model: "team-model"), organizationID: "org")?.cost
                .decimalString == "2")
        #expect(pricer.quote(event("2026-07-01T00:00:00Z", model: "team-model"), organizationID: "org") == nil)
        // Batch: 500000×2×0.5 = 0.5, cached 500000×1 = 0.5 (its own batch rate).
        #expect(
            pricer.quote(
                event("2026-06-15T00:00:00Z", model: "gpt-4o", cached: 500_000, batch: true),
                organizationID: "org")?.cost.decimalString == "1")
    }

    @Test func anOrganizationEntryMayNotCarryAnUnknownField() {
        let json = #"{"model":"m","from":"2026-01-01","prices":{"input":"1"},"fast":{"input":"2"}}"#
        #expect(throws: TallyError.self) {
            try CatalogFile.parseOrganizationEntry(try JSONParser.parse(Array(json.utf8)), organizationID: "org")
        }
    }

    @Test func aDatedAliasResolvesOnlyOnItsDays() throws {
        let catalog = PriceCatalog.builtIn
        let at = { (s: String) in Instant(rfc3339: s)! }
        #expect(
            catalog.entry(model: "gemini-pro-latest", at: at("2026-02-18T23:59:59Z"))?.entry.model
                == "gemini-3-pro-preview")
        #expect(
            catalog.entry(model: "gemini-pro-latest", at: at("2026-02-19T00:00:00Z"))?.entry.model
                == "gemini-3.1-pro-preview")
        #expect(
            catalog.entry(model: "gemini-flash-latest", at: at("2026-01-20T23:59:59Z"))?.entry.id
                == "google:gemini-2.5-flash:2025-11-18")
        #expect(
            catalog.entry(model: "gemini-flash-latest", at: at("2026-01-21T00:00:00Z"))?.entry.model
                == "gemini-3-flash-preview")
        #expect(catalog.entry(model: "gemini-flash-latest", at: at("2025-09-24T00:00:00Z")) == nil)
    }
}

/// The words of a breakdown's `modifiers`, and the arithmetic of two multipliers together.
@Suite struct ModifierWordsTests {
    let pricer = CatalogPricer()

    func breakdown(
        _ model: String, input: Int64, cached: Int64 = 0, batch: Bool = false, tier: String? = nil,
        at: String = "2026-11-01T12:00:00Z", provider: String = "openai"
    ) -> CostBreakdown? {
        var e = UsageEvent(
            id: "e", timestamp: Instant(rfc3339: at)!, provider: provider, model: model, batch: batch,
            serviceTier: tier)
        e.usage.inputTokens = input
        e.usage.cachedInputTokens = cached
        e.usage.outputTokens = 1000
        return pricer.breakdown(e, organizationID: "org")
    }

    @Test func longContextAndTheTierSayWhichRates() {
        #expect(
            breakdown("gpt-5.4", input: 300_000, tier: "flex")?.modifiers
                == ["long context: input above 272000 tokens", "service tier flex (long-context rates)"])
        #expect(
            breakdown("gpt-5.4", input: 1000, tier: "fast")?.modifiers == ["service tier fast at the priority rates"])
        #expect(
            breakdown("gemini-3.8-flash", input: 1000, tier: "priority", provider: "google")?.modifiers
                == ["service tier priority ×1.8"])
        #expect(
            breakdown("gpt-5.4", input: 1000, tier: "scale")?.modifiers
                == ["service tier scale has no price of its own: standard rates"])
        // A `batch` tier is what the batch flag prices: no note that it has no price of its own.
        #expect(
            breakdown("gpt-5.4", input: 1000, batch: true, tier: "batch")?.modifiers
                == ["batch ×0.5 except cached_input at its batch rate 0.13"])
    }

    @Test func batchNamesTheClassesAtTheirOwnRate() {
        #expect(
            breakdown("gpt-5.4", input: 1000, cached: 500, batch: true)?.modifiers
                == ["batch ×0.5 except cached_input at its batch rate 0.13"])
        #expect(breakdown("gpt-5", input: 1000, batch: true)?.modifiers == ["batch ×0.5 on every class"])
        let lines = breakdown("gpt-5.4", input: 1000, cached: 500, batch: true)?.lines ?? []
        #expect(lines.first { $0.tokenClass == "cached_input" }?.rate == "0.13")
        #expect(lines.first { $0.tokenClass == "input" }?.rate == "1.25")
    }

    @Test func aTierMultiplierAndBatchMultiplyExactly() {
        // gemini-3.8-flash 0.75 × flex 0.5 × batch 0.5 = 0.1875: 100000 × 0.1875 = 0.01875; output 1000×3.75×0.25.
        let b = breakdown("gemini-3.8-flash", input: 100_000, batch: true, tier: "flex", provider: "google")
        #expect(b?.lines.first?.rate == "0.1875")
        #expect(b?.cost.decimalString == "0.0196875")
    }

    /// Two multipliers of 2⁶³−1 on a rate of one nano-dollar: the rate fits Int128 (≈ 2¹²⁶), two tokens come within
    /// 10²⁴ of its limit, where rounding by adding half the divisor (10²⁴ / 2) would have trapped.
    @Test func aProductNearInt128sLimitRoundsWithoutOverflow() {
        let huge = Multiplier(nanos: Int64.max)
        let entry = PriceEntry(
            id: "near", provider: "openai", model: "m", from: CivilDate(year: 2026, month: 1, day: 1),
            prices: PriceSet([.input: Rate(nanosPerMillion: 1)]), batch: huge, serviceTierMultipliers: ["flex": huge])
        var u = TokenUsage()
        u.inputTokens = 2
        let b = CostEngine.price(u, batch: true, serviceTier: "flex", entry: entry, modelResolved: "m")
        // 2 × (2⁶³−1)² / 10²⁴ nano-dollars = 170141183460469.23…, rounded down: within the limit, so priced.
        #expect(b.problem == nil && b.cost.decimalString == "170141.183460469")
    }

    @Test func multipliersPastInt128LeaveTheEventUnpriced() throws {
        let huge = Multiplier(nanos: Int64.max)
        let entry = PriceEntry(
            id: "huge", provider: "openai", model: "m", from: CivilDate(year: 2026, month: 1, day: 1),
            prices: PriceSet([.input: Rate(nanosPerMillion: Int64.max)]), batch: huge,
            serviceTierMultipliers: ["flex": huge])
        var u = TokenUsage()
        u.inputTokens = 1
        let b = CostEngine.price(u, batch: true, serviceTier: "flex", entry: entry, modelResolved: "m")
        #expect(b.lines.isEmpty)
        #expect(b.problem?.field == "input_tokens")
    }
}
