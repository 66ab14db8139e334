import TallyCore
import TallyServices
import Testing

/// The insight engine on crafted usage: every kind with its figures worked out by hand (in the comments), exact USD.
struct InsightEngineTests {
    /// Rates per million tokens: input, cached input, output.
    struct TablePricing: InsightPricing {
        static let rates: [String: (input: Int64, cached: Int64, output: Int64)] = [
            "big": (2_500_000_000, 1_250_000_000, 10_000_000_000),
            "mid": (1_000_000_000, 500_000_000, 4_000_000_000),
            "small": (150_000_000, 75_000_000, 600_000_000),
            "claude": (3_000_000_000, 300_000_000, 15_000_000_000),
        ]
        func cost(provider: String, model: String, usage: UsageMetrics) -> USD? {
            guard let r = Self.rates[model] else { return nil }
            let uncached = usage.inputTokens - usage.cachedInputTokens
            return USD(
                nanos: (uncached * r.input + usage.cachedInputTokens * r.cached + usage.outputTokens * r.output)
                    / 1_000_000)
        }
        func models(provider: String) -> [String] { provider == "openai" ? ["big", "mid", "small"] : ["claude"] }
    }

    static func row(
        _ provider: String, _ model: String, _ project: String, _ feature: String?, failed: Bool = false,
        requests: Int64, input: Int64, output: Int64, cached: Int64 = 0, cost: String
    ) -> InsightUsageRow {
        var m = UsageMetrics()
        m.requests = requests
        m.inputTokens = input
        m.outputTokens = output
        m.cachedInputTokens = cached
        m.errors = failed ? requests : 0
        m.cost = USD(decimal: cost)!
        return InsightUsageRow(
            provider: provider, model: model, projectID: project, feature: feature, failed: failed, metrics: m)
    }

    /// Last 30 days: big $150 (short requests of feature chat), mid $19.90 (long prompts of docs, 5% cached),
    /// claude $30 (failed). The 30 days before: the same but big $50.
    static func input(bigBefore: String = "50") -> InsightInput {
        let chat = row(
            "openai", "big", "prj_web", "chat", requests: 100_000, input: 40_000_000, output: 5_000_000, cost: "150")
        let docs = row(
            "openai", "mid", "prj_api", "docs", requests: 1000, input: 20_000_000, output: 100_000, cached: 1_000_000,
            cost: "19.90")
        let failed = row(
            "anthropic", "claude", "prj_api", nil, failed: true, requests: 40, input: 4000, output: 400, cost: "30")
        var before = chat
        before.metrics.cost = USD(decimal: bigBefore)!
        return InsightInput(
            today: CivilDate(year: 2026, month: 11, day: 27), last30: [chat, docs, failed],
            previous30: [before, docs, failed], last7: [], previous7: [], activeDays: ["docs": 25],
            projectNames: ["prj_web": "Web", "prj_api": "API"])
    }

    static var settings: InsightSettings {
        var s = InsightSettings()
        s.batchFeatures = ["docs"]
        return s
    }

    static func find(_ findings: [InsightFinding], _ key: String) throws -> InsightFinding {
        try #require(findings.first { $0.key == key }, "no \(key) in \(findings.map(\.key))")
    }

    static func evidence(_ f: InsightFinding) -> [String: InsightValue] {
        Dictionary(f.evidence.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    @Test func everyKindIsFoundWithItsKey() {
        let findings = InsightEngine.findings(Self.input(), settings: Self.settings, pricing: TablePricing())
        #expect(
            findings.map(\.key) == [
                "batch_candidate:docs", "concentration:provider:openai", "error_spend",
                "expensive_model_for_simple_tasks:feature:chat:openai:big", "feature_spike:chat",
                "growth:month:model:big", "growth:month:project:prj_web", "growth:month:provider:openai",
                "growth:month:total", "low_cache_use:openai:mid",
            ])
    }

    @Test func concentrationNamesTheShareAndTheAmounts() throws {
        let f = try Self.find(
            InsightEngine.findings(Self.input(), settings: Self.settings, pricing: TablePricing()),
            "concentration:provider:openai")
        // openai: 150 + 19.90 = 169.90 of 199.90 = 84.99…% → 85.0.
        #expect(f.title == "85.0% of the last 30 days' cost came from one provider, openai ($169.90 of $199.90)")
        #expect(Self.evidence(f)["share_percent"] == .percent("85.0"))
        #expect(Self.evidence(f)["cost_usd"] == .usd(USD(decimal: "169.90")!))
        #expect(f.estimatedMonthlySavings == nil)
        #expect(f.explorerURL == "/usage?group_by=provider&preset=custom&from=2026-10-28&to=2026-11-26")
    }

    @Test func expensiveModelSavingIsTheCheaperModelsPriceDifference() throws {
        let f = try Self.find(
            InsightEngine.findings(Self.input(), settings: Self.settings, pricing: TablePricing()),
            "expensive_model_for_simple_tasks:feature:chat:openai:big")
        // 100,000 requests of 400 in / 50 out. big: 40M × $2.50 + 5M × $10 = $150; mid: $40 + $20 = $60 (only 2.5×
        // cheaper: not offered); small: $6 + $3 = $9 (16.7× cheaper). Saving $150 − $9 = $141.
        #expect(f.estimatedMonthlySavings == USD(decimal: "141"))
        #expect(Self.evidence(f)["cheaper_model"] == .text("small"))
        #expect(Self.evidence(f)["cheaper_cost_usd"] == .usd(USD(decimal: "9")!))
        #expect(Self.evidence(f)["average_input_tokens"] == .count(400))
        #expect(f.title == "Feature chat sends short requests to big; small would cost about $141.00 less a month")
        #expect(f.explorerURL.contains("feature=chat") && f.explorerURL.contains("provider=openai"))
    }

    @Test func lowCacheSavingIsAtTheCachedRate() throws {
        let f = try Self.find(
            InsightEngine.findings(Self.input(), settings: Self.settings, pricing: TablePricing()),
            "low_cache_use:openai:mid")
        // 20M input, 1M cached (5.0%): 19M × $1 + 1M × $0.50 + 0.1M out × $4 = $19.90. Half cached (10M):
        // $10 + $5 + $0.40 = $15.40. Saving $4.50.
        #expect(f.estimatedMonthlySavings == USD(decimal: "4.50"))
        #expect(Self.evidence(f)["cached_share_percent"] == .percent("5.0"))
        #expect(Self.evidence(f)["average_input_tokens"] == .count(20_000))
    }

    @Test func errorSpendGrowthSpikeAndBatchFigures() throws {
        let findings = InsightEngine.findings(Self.input(), settings: Self.settings, pricing: TablePricing())
        let errors = try Self.find(findings, "error_spend")
        #expect(errors.title == "$30.00 of the last 30 days' cost went to failed requests (15.0% of $199.90)")
        #expect(errors.estimatedMonthlySavings == USD(decimal: "30"))
        #expect(Self.evidence(errors)["failed_requests"] == .count(40))
        // 199.90 vs 99.90: +100.1%.
        #expect(
            try Self.find(findings, "growth:month:total").title
                == "Total spend grew 100.1% month over month ($199.90 vs $99.90)")
        #expect(
            try Self.find(findings, "growth:month:project:prj_web").title
                == "Spend on project Web grew 200.0% month over month ($150.00 vs $50.00)")
        let spike = try Self.find(findings, "feature_spike:chat")
        #expect(Self.evidence(spike)["growth_percent"] == .percent("200.0"))
        let batch = try Self.find(findings, "batch_candidate:docs")
        #expect(batch.estimatedMonthlySavings == USD(decimal: "9.95"))
    }

    @Test func thresholdsAndFloorsHoldInsightsBack() {
        var settings = Self.settings
        settings.floor = USD(decimal: "1000")!
        #expect(InsightEngine.findings(Self.input(), settings: settings, pricing: TablePricing()).isEmpty)
        settings = Self.settings
        settings.concentrationPercent = 90
        settings.growthPercent = 300
        settings.featureSpikePercent = 300
        settings.batchFeatures = []
        settings.cheaperModelFactor = 20
        settings.lowCacheSharePercent = 5
        let keys = InsightEngine.findings(Self.input(), settings: settings, pricing: TablePricing()).map(\.key)
        #expect(keys == ["error_spend"])
    }

    @Test func theSameDataGivesTheSameInsightsInAnyOrder() {
        var shuffled = Self.input()
        shuffled.last30.reverse()
        shuffled.previous30.reverse()
        let a = InsightEngine.findings(Self.input(), settings: Self.settings, pricing: TablePricing())
        let b = InsightEngine.findings(shuffled, settings: Self.settings, pricing: TablePricing())
        #expect(a == b)
        #expect(
            InsightEngine.id(organizationID: "org_a", key: "error_spend")
                == InsightEngine.id(organizationID: "org_a", key: "error_spend"))
        #expect(
            InsightEngine.id(organizationID: "org_a", key: "error_spend")
                != InsightEngine.id(organizationID: "org_b", key: "error_spend"))
    }

    @Test func aNewFeatureAmongTheTopCostsIsASpike() throws {
        var input = Self.input()
        input.previous30 = input.previous30.filter { $0.feature != "chat" }
        let f = try Self.find(
            InsightEngine.findings(input, settings: Self.settings, pricing: TablePricing()), "feature_spike:chat")
        #expect(f.title == "New feature chat is already among the top 5 costs ($150.00 in the last 30 days)")
    }

    @Test func settingsJSONValidatesEachField() throws {
        let saved = try InsightSettings().applying(
            try JSONParser.parse(
                Array(#"{"growth_percent": 75, "floor_usd": "2.5", "batch_features": ["a", "a"]}"#.utf8)))
        #expect(saved.growthPercent == 75 && saved.floor == USD(decimal: "2.5") && saved.batchFeatures == ["a"])
        #expect(try InsightSettings(definition: saved.json) == saved)
        for (body, field) in [
            (#"{"concentration_percent": 0}"#, "concentration_percent"), (#"{"floor_usd": "-1"}"#, "floor_usd"),
            (#"{"batch_features": ["a\u0000"]}"#, "batch_features"), (#"{"nope": 1}"#, "nope"),
            (#"{"cheaper_model_factor": 99999999999999999999}"#, "cheaper_model_factor"),
        ] {
            #expect {
                try InsightSettings().applying(try JSONParser.parse(Array(body.utf8)))
            } throws: { error in
                guard case TallyError.invalid(let problems) = error else { return false }
                return problems.map(\.field) == [field]
            }
        }
    }
}
