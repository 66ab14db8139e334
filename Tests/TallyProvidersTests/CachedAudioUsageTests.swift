import TallyCore
import Testing

@testable import TallyProviders

/// Cached audio read from each provider's usage, hand-written in the shapes of provider-apis.md and the openai SDK
/// 3.54 types: Tally's `input_audio_tokens` includes it and `cached_input_audio_tokens` is it, whatever the provider's
/// own convention.
@Suite struct CachedAudioUsageTests {
    @Test func openAIChatReadsCachedAudioFromTheCachedDetails() throws {
        let u = ProviderUsage.openAIChat(
            try json(
                """
                {"prompt_tokens":10000,"completion_tokens":300,"total_tokens":10300,
                 "prompt_tokens_details":{"cached_tokens":7000,"audio_tokens":5000,"text_tokens":5000,
                   "cached_tokens_details":{"text_tokens":3000,"audio_tokens":4000}},
                 "completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":200}}
                """))
        #expect(u.inputTokens == 10000 && u.cachedInputTokens == 7000)
        #expect(u.inputAudioTokens == 5000 && u.cachedInputAudioTokens == 4000)
        #expect(u.outputTokens == 300 && u.outputAudioTokens == 200)
    }

    @Test func openAIResponsesReadsAudioAndCachedAudioWhereGiven() throws {
        let u = ProviderUsage.openAIResponses(
            try json(
                """
                {"input_tokens":2000,"output_tokens":50,"total_tokens":2050,
                 "input_tokens_details":{"cached_tokens":1500,"cache_write_tokens":0,"audio_tokens":1200,
                   "cached_tokens_details":{"audio_tokens":1000,"text_tokens":500}},
                 "output_tokens_details":{"reasoning_tokens":0}}
                """))
        #expect(u.inputAudioTokens == 1200 && u.cachedInputAudioTokens == 1000 && u.cachedInputTokens == 1500)
        // The SDK's own shape, without audio: nothing invented.
        let plain = ProviderUsage.openAIResponses(
            try json(
                """
                {"input_tokens":2000,"output_tokens":50,"total_tokens":2050,
                 "input_tokens_details":{"cached_tokens":1500,"cache_write_tokens":0},
                 "output_tokens_details":{"reasoning_tokens":0}}
                """))
        #expect(plain.inputAudioTokens == 0 && plain.cachedInputAudioTokens == 0 && plain.cachedInputTokens == 1500)
    }

    /// An answer whose cached audio exceeds its cached or its audio count (it contradicts itself) is capped by both,
    /// so the event passes the rules and no token is billed twice.
    @Test func contradictingCachedAudioIsCappedByBothCounts() throws {
        let moreThanCached = ProviderUsage.openAIChat(
            try json(
                """
                {"prompt_tokens":100,"completion_tokens":1,
                 "prompt_tokens_details":{"cached_tokens":10,"audio_tokens":80,"cached_tokens_details":{"audio_tokens":50}}}
                """))
        #expect(moreThanCached.cachedInputAudioTokens == 10)
        let moreThanAudio = ProviderUsage.openAIChat(
            try json(
                """
                {"prompt_tokens":100,"completion_tokens":1,
                 "prompt_tokens_details":{"cached_tokens":60,"audio_tokens":20,"cached_tokens_details":{"audio_tokens":50}}}
                """))
        #expect(moreThanAudio.cachedInputAudioTokens == 20)
    }

    @Test func geminiCountsCachedAudioInsideThePromptAudio() throws {
        let u = ProviderUsage.gemini(
            try json(
                """
                {"promptTokenCount":200000,"cachedContentTokenCount":150000,"candidatesTokenCount":1000,
                 "totalTokenCount":201000,
                 "promptTokensDetails":[{"modality":"TEXT","tokenCount":80000},{"modality":"AUDIO","tokenCount":120000}],
                 "cacheTokensDetails":[{"modality":"TEXT","tokenCount":50000},{"modality":"AUDIO","tokenCount":100000}],
                 "candidatesTokensDetails":[{"modality":"TEXT","tokenCount":1000}]}
                """))
        #expect(u.inputTokens == 200_000 && u.cachedInputTokens == 150_000)
        #expect(u.inputAudioTokens == 120_000 && u.cachedInputAudioTokens == 100_000)
        #expect(u.outputTokens == 1000 && u.outputAudioTokens == 0)
    }

    @Test func geminiWithoutCachedAudioHasNone() throws {
        let u = ProviderUsage.gemini(
            try json(
                """
                {"promptTokenCount":1030,"cachedContentTokenCount":1024,"candidatesTokenCount":3,
                 "promptTokensDetails":[{"modality":"TEXT","tokenCount":1000},{"modality":"AUDIO","tokenCount":30}],
                 "cacheTokensDetails":[{"modality":"TEXT","tokenCount":1024}]}
                """))
        #expect(u.inputAudioTokens == 30 && u.cachedInputAudioTokens == 0 && u.cachedInputTokens == 1024)
    }

    func completionsRow(_ fields: String) throws -> TokenUsage {
        let page = try ReportDecoding.openAIUsage(
            json(
                """
                {"object":"page","data":[{"object":"bucket","start_time":1767225600,"end_time":1767312000,"results":[
                  {"object":"organization.usage.completions.result","input_tokens":12000,"input_cached_tokens":3000,
                   "output_tokens":2500,\(fields)"num_model_requests":4,"model":"gpt-realtime-mini"}]}],
                 "has_more":false,"next_page":null}
                """), report: .openAICompletions)
        return try #require(page.buckets.first?.rows.first).usage
    }

    /// The July-2026 spec: `input_audio_tokens` is the uncached audio, `input_cached_audio_tokens` the cached.
    @Test func newerUsageReportAddsCachedAudioToTheUncached() throws {
        let u = try completionsRow(#""input_audio_tokens":1500,"input_cached_audio_tokens":2000,"#)
        #expect(u.inputAudioTokens == 3500 && u.cachedInputAudioTokens == 2000 && u.cachedInputTokens == 3000)
    }

    /// A row claiming more cached audio than cached tokens is capped by the cached count, so it prices every token once.
    @Test func usageReportCachedAudioBeyondTheCachedIsCapped() throws {
        let u = try completionsRow(#""input_audio_tokens":0,"input_cached_audio_tokens":5000,"#)
        #expect(u.inputAudioTokens == 5000 && u.cachedInputAudioTokens == 3000)
    }

    /// The older spec: `input_audio_tokens` included the cached audio, and no field said how much of it was cached.
    @Test func olderUsageReportTakesItsAudioAsAllOfIt() throws {
        let u = try completionsRow(#""input_audio_tokens":3500,"#)
        #expect(u.inputAudioTokens == 3500 && u.cachedInputAudioTokens == 0)
    }
}
