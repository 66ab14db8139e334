import TallyCore
import Testing

/// `TokenClass` is the one table behind the token counts: these are the names the API, the CSV export and the stores
/// have always used, written out once here so that a change to the table cannot rename a stored or answered field.
@Suite struct TokenClassTests {
    @Test func theTableKeepsTheStoredAndAnsweredNames() {
        #expect(
            TokenClass.counts.map(\.field) == [
                "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_input_tokens",
                "cache_write_1h_input_tokens", "reasoning_tokens", "input_audio_tokens", "output_audio_tokens",
                "cached_input_audio_tokens",
            ])
        #expect(TokenClass.counts.map(\.column) == TokenClass.counts.map(\.field))
        #expect(
            Set(TokenClass.counts) == Set(TokenClass.allCases) && TokenClass.counts.count == TokenClass.allCases.count)
        #expect(
            TokenClass.allCases.map(\.rawValue) == [
                "input", "cached_input", "cache_write_5m", "cache_write_1h", "output", "reasoning", "input_audio",
                "cached_input_audio", "output_audio",
            ])
        #expect(
            UsageMetrics.columns == [
                "requests", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_input_tokens",
                "cache_write_1h_input_tokens", "reasoning_tokens", "input_audio_tokens", "output_audio_tokens",
                "cached_input_audio_tokens", "errors", "cost_nanos", "unpriced_requests", "provider_cost_nanos",
            ])
        #expect(
            UsageMetrics.fieldNames == [
                "requests", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_input_tokens",
                "cache_write_1h_input_tokens", "reasoning_tokens", "input_audio_tokens", "output_audio_tokens",
                "cached_input_audio_tokens", "errors", "cost_usd", "unpriced_requests", "provider_cost_usd",
            ])
    }

    @Test func eachClassReadsAndWritesItsOwnCount() throws {
        var usage = TokenUsage()
        for (i, c) in TokenClass.counts.enumerated() { usage[c] = Int64(10 + i) }
        usage.requests = 3
        #expect(usage.inputTokens == 10 && usage.outputTokens == 11 && usage.cachedInputTokens == 12)
        #expect(usage.cacheWriteInputTokens == 13 && usage.cacheWrite1hInputTokens == 14 && usage.reasoningTokens == 15)
        #expect(usage.inputAudioTokens == 16 && usage.outputAudioTokens == 17 && usage.cachedInputAudioTokens == 18)
        #expect(usage.fields.map(\.value) == [10, 11, 12, 13, 14, 15, 16, 17, 18, 3])

        var metrics = UsageMetrics(columnValues: Array(1...14))
        #expect(metrics.columnValues == Array(1...14))
        #expect(
            metrics.requests == 1 && metrics.inputTokens == 2 && metrics.outputAudioTokens == 9
                && metrics.cachedInputAudioTokens == 10 && metrics.errors == 11)
        #expect(
            metrics.cost == USD(nanos: 12) && metrics.unpricedRequests == 13 && metrics.providerCost == USD(nanos: 14))
        for c in TokenClass.counts { #expect(metrics[c] == usage[c] - 8) }

        // The checked sum names the metric that overflowed by its API name.
        var big = UsageMetrics()
        big.cacheWrite1hInputTokens = .max
        #expect(
            throws: TallyError.totalTooLarge([
                FieldProblem(
                    field: "cache_write_1h_input_tokens",
                    reason:
                        "adds up to more than Tally can count exactly (at most 9223372036854775807 tokens or requests, "
                        + "9223372036.854775807 USD in one total)")
            ])
        ) { try big.add(metrics) }
        let same = metrics
        metrics += same
        #expect(metrics.columnValues == Array(1...14).map { $0 * 2 })
    }
}
