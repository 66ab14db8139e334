import Logging
import TallyCore
import TallyPrice
import TallyProviders
import TallyStoreSQLite
import Testing

@testable import TallyServer
@testable import TallyServices

/// The sync prices a report's row with its `service_tier`, as the gateway prices an event: Anthropic's `batch` tier
/// is batch traffic (its report has no `batch` key), any other tier is kept and priced as the catalog says.
@Suite struct SyncServiceTierTests {
    func runner() async throws -> SyncRunner<SQLiteStore> {
        let f = try await AccountsFixture.make()
        return SyncRunner(
            store: f.store, connections: ConnectionService(store: f.store, vault: f.options.vault),
            vault: f.options.vault, pricer: CatalogPricer(), transport: ScriptedProvider { _, _ in ok("{}") },
            policy: RetryPolicy(maxAttempts: 1, baseMilliseconds: 1, capMilliseconds: 1),
            logger: Logger(label: "test"), sleep: { _ in }, random: { 0.5 })
    }

    /// One day of Anthropic's usage report, one row per tier: 1000 uncached input and 100 output tokens each.
    func anthropicRows() throws -> [ProviderUsageRow] {
        let rows = ["batch", "priority", "standard"].map { tier in
            """
            {"uncached_input_tokens":1000,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},
             "cache_read_input_tokens":0,"output_tokens":100,"server_tool_use":{"web_search_requests":0},
             "api_key_id":"apikey_1","workspace_id":null,"model":"claude-sonnet-4-5","service_tier":"\(tier)",
             "context_window":"0-200k","inference_geo":null}
            """
        }
        let page = try ReportDecoding.anthropicMessages(
            JSONParser.parse(
                Array(
                    """
                    {"data":[{"starting_at":"2026-11-02T00:00:00Z","ending_at":"2026-11-03T00:00:00Z","results":[
                    \(rows.joined(separator: ","))]}],"has_more":false,"next_page":null}
                    """.utf8)))
        return page.buckets[0].rows
    }

    /// Claude Sonnet 4.5 at $3 input and $15 output per 1M, batch ×0.5:
    /// standard 1000 × 3 / 10⁶ + 100 × 15 / 10⁶ = 0.003 + 0.0015 = $0.0045; batch half of it, $0.00225.
    /// Anthropic's Priority Tier is billed by commitment, with no per-token list price in the catalog: standard rates.
    @Test func anthropicsBatchTierIsBatchAndPriorityIsKept() async throws {
        let runner = try await runner()
        let rows = try anthropicRows()
        #expect(rows.map(\.serviceTier) == ["batch", "priority", "standard"])
        #expect(rows.map(\.batch) == [nil, nil, nil], "Anthropic's report has no batch key: the tier says it")
        let costs = rows.map { runner.price($0, provider: .anthropic, org: "org_default").cost }
        #expect(costs == [USD(decimal: "0.00225"), USD(decimal: "0.0045"), USD(decimal: "0.0045")])
    }

    /// OpenAI's completions report groups by `service_tier`: a priority row of gpt-5 at its priority rates,
    /// $2.50 input and $20 output per 1M: 1000 × 2.50 / 10⁶ + 100 × 20 / 10⁶ = 0.0025 + 0.002 = $0.0045
    /// (standard would be 0.00125 + 0.001 = $0.00225; flex, $0.625 and $5, 0.000625 + 0.0005 = $0.001125).
    @Test func openAIsPriorityAndFlexRowsArePricedAtTheirTier() async throws {
        let runner = try await runner()
        var costs: [USD?] = []
        for tier in ["priority", "flex", "default"] {
            var row = ProviderUsageRow(
                bucketStart: Instant(rfc3339: "2026-11-02T00:00:00Z")!,
                bucketEnd: Instant(rfc3339: "2026-11-03T00:00:00Z")!, model: "gpt-5-2025-08-07", serviceTier: tier)
            row.usage.inputTokens = 1000
            row.usage.outputTokens = 100
            row.usage.requests = 1
            costs.append(runner.price(row, provider: .openai, org: "org_default").cost)
        }
        #expect(costs == [USD(decimal: "0.0045"), USD(decimal: "0.001125"), USD(decimal: "0.00225")])
    }
}
