import TallyCore
import Testing

@testable import TallyProviders

func json(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

/// The providers' documented examples (../shared/reference/provider-apis.md 1.2, 1.3, 2.2, 2.3) decode to Tally's terms.
@Suite struct ReportDecodingTests {
    @Test func openAICompletionsKeepInputAsTheTotalAndReadGroupKeys() throws {
        let page = try ReportDecoding.openAIUsage(
            json(
                """
                {"object":"page","data":[{"object":"bucket","start_time":1767225600,"end_time":1767312000,"results":[
                  {"object":"organization.usage.completions.result","input_tokens":12000,"input_cached_tokens":3000,"output_tokens":2500,
                   "input_audio_tokens":0,"output_audio_tokens":0,"num_model_requests":42,"project_id":"proj_example1","user_id":null,
                   "api_key_id":null,"model":"gpt-4o-mini-2024-07-18","batch":null,"service_tier":null}]},
                  {"object":"bucket","start_time":1767312000,"end_time":1767398400,"results":[]}],
                 "has_more":true,"next_page":"page_AAAAexampleCursor"}
                """), report: .openAICompletions)
        #expect(page.hasMore && page.nextPage == "page_AAAAexampleCursor")
        #expect(page.buckets.count == 2 && page.buckets[1].rows.isEmpty)
        let row = try #require(page.buckets.first?.rows.first)
        #expect(
            row.bucketStart == Instant(rfc3339: "2026-01-01T00:00:00Z")
                && row.bucketEnd == Instant(rfc3339: "2026-01-02T00:00:00Z"))
        #expect(row.usage.inputTokens == 12000 && row.usage.cachedInputTokens == 3000 && row.usage.outputTokens == 2500)
        #expect(row.usage.requests == 42 && row.model == "gpt-4o-mini-2024-07-18" && row.projectRef == "proj_example1")
        #expect(row.apiKeyRef == nil && row.batch == nil)
    }

    @Test func openAIUnitsReportsCarryTheirUnit() throws {
        let page = try ReportDecoding.openAIUsage(
            json(
                """
                {"object":"page","data":[{"object":"bucket","start_time":0,"end_time":86400,"results":[
                  {"object":"organization.usage.images.result","images":7,"num_model_requests":3,"model":"dall-e-3","project_id":null,"api_key_id":null}]}],
                 "has_more":false,"next_page":null}
                """), report: .openAIImages)
        #expect(
            page.buckets[0].rows[0].units == 7 && page.buckets[0].rows[0].unit == "images"
                && page.buckets[0].rows[0].usage.requests == 3)
    }

    @Test func openAICostsAreExactDollarsFromTheNumbersText() throws {
        let page = try ReportDecoding.openAICosts(
            json(
                """
                {"object":"page","data":[{"object":"bucket","start_time":1767225600,"end_time":1767312000,"results":[
                  {"object":"organization.costs.result","amount":{"value":0.4175,"currency":"usd"},"line_item":"gpt-4o-mini, input",
                   "project_id":"proj_example1","api_key_id":null,"quantity":2783333,"quantity_unit":"tokens"},
                  {"object":"organization.costs.result","amount":{"value":1.23456789012e-3,"currency":"usd"},"line_item":null,"project_id":null}]}],
                 "has_more":false,"next_page":null}
                """))
        let rows = page.buckets[0].rows
        #expect(
            rows[0].amount == USD(decimal: "0.4175") && rows[0].lineItem == "gpt-4o-mini, input"
                && rows[0].quantity == "2783333")
        #expect(rows[1].amount.nanos == 1_234_568, "rounded half-up to the nano-dollar")
    }

    /// Amounts with more decimals than a nano-dollar, as a number or a decimal string: each rounded once, half-up, from
    /// its text. Expected nanos written by hand; through a Double, 123456789.123456789123 reads as …123456791.
    @Test func openAICostsWithLongDecimalsRoundHalfUpFromTheText() throws {
        let page = try ReportDecoding.openAICosts(
            json(
                """
                {"object":"page","data":[{"object":"bucket","start_time":1767225600,"end_time":1767312000,"results":[
                  {"object":"organization.costs.result","amount":{"value":0.0123456789012345678,"currency":"usd"}},
                  {"object":"organization.costs.result","amount":{"value":"0.0123456789012345678","currency":"usd"}},
                  {"object":"organization.costs.result","amount":{"value":123456789.123456789123,"currency":"usd"}},
                  {"object":"organization.costs.result","amount":{"value":2.0000000025,"currency":"usd"}},
                  {"object":"organization.costs.result","amount":{"value":"0.00000000049999999999","currency":"usd"}},
                  {"object":"organization.costs.result","amount":{"value":0.0000000005,"currency":"usd"}}]}],
                 "has_more":false,"next_page":null}
                """))
        #expect(
            page.buckets[0].rows.map(\.amount.nanos) == [
                12_345_679, 12_345_679, 123_456_789_123_456_789, 2_000_000_003, 0, 1,
            ])
        #expect(throws: MalformedReport.self) {
            try ReportDecoding.openAICosts(
                json(
                    #"{"data":[{"start_time":0,"end_time":86400,"results":[{"amount":{"value":"0.1 USD","currency":"usd"}}]}],"has_more":false}"#
                ))
        }
    }

    @Test func anthropicInputIncludesBothCacheKindsAndCostsAreCents() throws {
        let usage = try ReportDecoding.anthropicMessages(
            json(
                """
                {"data":[{"starting_at":"2026-01-01T00:00:00Z","ending_at":"2026-01-02T00:00:00Z","results":[
                  {"uncached_input_tokens":15000,"cache_creation":{"ephemeral_5m_input_tokens":2000,"ephemeral_1h_input_tokens":500},
                   "cache_read_input_tokens":48000,"output_tokens":3100,"server_tool_use":{"web_search_requests":3},
                   "api_key_id":"apikey_01Example","workspace_id":null,"model":"claude-sonnet-4-20250514","service_tier":"standard",
                   "context_window":"0-200k","inference_geo":null}]}],"has_more":false,"next_page":null}
                """))
        let u = usage.buckets[0].rows[0]
        #expect(u.usage.inputTokens == 15000 + 48000 + 2000 + 500)
        #expect(
            u.usage.cachedInputTokens == 48000 && u.usage.cacheWriteInputTokens == 2500
                && u.usage.cacheWrite1hInputTokens == 500)
        #expect(
            u.usage.outputTokens == 3100 && u.units == 3 && u.unit == "web_search_requests"
                && u.contextWindow == "0-200k")
        let costs = try ReportDecoding.anthropicCosts(
            json(
                """
                {"data":[{"starting_at":"2026-01-01T00:00:00Z","ending_at":"2026-01-02T00:00:00Z","results":[
                  {"currency":"USD","amount":"12345.678","workspace_id":null,"description":"Claude Sonnet 4 Usage - Input Tokens",
                   "cost_type":"tokens","model":"claude-sonnet-4-20250514","service_tier":"standard","token_type":"uncached_input_tokens",
                   "context_window":"0-200k","inference_geo":null}]}],"has_more":false,"next_page":null}
                """))
        #expect(costs.buckets[0].rows[0].amount == USD(decimal: "123.45678"), "cents: 12345.678 ¢ is $123.45678")
        #expect(costs.buckets[0].rows[0].tokenType == "uncached_input_tokens")
    }

    @Test func malformedAnswersNameWhatIsWrong() throws {
        #expect(throws: MalformedReport(path: "$.data[0].results[0].output_tokens", reason: "is missing")) {
            try ReportDecoding.openAIUsage(
                json(
                    """
                    {"object":"page","data":[{"object":"bucket","start_time":0,"end_time":86400,"results":[
                      {"object":"organization.usage.completions.result","input_tokens":1,"num_model_requests":1}]}],"has_more":false,"next_page":null}
                    """), report: .openAICompletions)
        }
        #expect(throws: MalformedReport(path: "$.next_page", reason: "is missing while has_more is true")) {
            try ReportDecoding.anthropicCosts(json(#"{"data":[],"has_more":true,"next_page":null}"#))
        }
        #expect(throws: MalformedReport.self) {
            try ReportDecoding.anthropicCosts(
                json(
                    """
                    {"data":[{"starting_at":"2026-01-01T00:00:00Z","ending_at":"2026-01-02T00:00:00Z","results":[
                      {"currency":"USD","amount":12.5}]}],"has_more":false,"next_page":null}
                    """))
        }
    }

    @Test func requestsFollowEachProvidersConventions() {
        let from = Instant(rfc3339: "2026-11-01T00:00:00Z")!, to = Instant(rfc3339: "2026-11-03T00:00:00Z")!
        let openai = ReportQueries.request(
            .openAICompletions, baseURL: "http://h", key: "sk-admin-x", from: from, to: to, page: nil)
        #expect(
            openai.url
                == "http://h/v1/organization/usage/completions?start_time=1793491200&end_time=1793664000&bucket_width=1d&limit=1"
                + "&group_by=model&group_by=project_id&group_by=api_key_id&group_by=batch&group_by=service_tier")
        #expect(openai.headers["Authorization"] == "Bearer sk-admin-x")
        let anthropic = ReportQueries.request(
            .anthropicCosts, baseURL: "http://h", key: "sk-ant-admin-x", from: from, to: to, page: "p 2")
        #expect(
            anthropic.url
                == "http://h/v1/organizations/cost_report?starting_at=2026-11-01T00%3A00%3A00Z&ending_at=2026-11-03T00%3A00%3A00Z"
                + "&bucket_width=1d&limit=1&group_by%5B%5D=workspace_id&group_by%5B%5D=description&page=p%202")
        #expect(
            anthropic.headers["x-api-key"] == "sk-ant-admin-x" && anthropic.headers["anthropic-version"] == "2023-06-01"
        )
        #expect(ReportQueries.pageSize(.openAICosts) == 7 && ReportQueries.pageSize(.anthropicCosts) == 1)
    }

    @Test func backoffGrowsIsCappedAndHonoursRetryAfter() {
        let p = RetryPolicy(maxAttempts: 6, baseMilliseconds: 1000, capMilliseconds: 30_000)
        #expect(p.delayMilliseconds(afterAttempt: 1, retryAfterSeconds: nil, random: 0) == 500)
        #expect(p.delayMilliseconds(afterAttempt: 3, retryAfterSeconds: nil, random: 0.999) == 3998)
        #expect(p.delayMilliseconds(afterAttempt: 10, retryAfterSeconds: nil, random: 0.999) <= 30_000)
        #expect(p.delayMilliseconds(afterAttempt: 1, retryAfterSeconds: 7, random: 0) == 7000)
        #expect(p.delayMilliseconds(afterAttempt: 1, retryAfterSeconds: 600, random: 0) == 30_000, "capped")
        #expect(
            RetryPolicy.isRetryable(status: 429) && RetryPolicy.isRetryable(status: 529)
                && !RetryPolicy.isRetryable(status: 401))
    }

    @Test func exactAmountsFromLiterals() {
        #expect(USD(literal: "0.4175")?.nanos == 417_500_000)
        #expect(USD(literal: "12345.678", shift: 2) == USD(decimal: "123.45678"))
        #expect(USD(literal: "1e2")?.nanos == 100_000_000_000)
        #expect(USD(literal: "-0.5")?.nanos == -500_000_000)
        #expect(USD(literal: "abc") == nil && USD(literal: "1.2.3") == nil && USD(literal: "") == nil)
    }
}
