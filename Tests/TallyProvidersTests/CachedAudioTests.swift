import TallyCore
import Testing

@testable import TallyProviders

/// OpenAI counts cached audio inside both its cached count and its audio count; Tally keeps that shape and names the
/// cached audio (`cachedInputAudioTokens`), which the engine bills once, at the cached-audio rate.
@Suite struct CachedAudioTests {
    @Test func chatUsageTakesCachedAudioOutOfTheAudioCount() throws {
        let u = ProviderUsage.openAIChat(
            try json(
                #"""
                {"prompt_tokens":10000,"completion_tokens":1000,"total_tokens":11000,
                 "prompt_tokens_details":{"cached_tokens":6000,"audio_tokens":7000,"text_tokens":3000,
                   "cached_tokens_details":{"audio_tokens":4000,"text_tokens":2000}},
                 "completion_tokens_details":{"audio_tokens":800}}
                """#))
        #expect(u.inputTokens == 10000 && u.cachedInputTokens == 6000)
        #expect(u.inputAudioTokens == 7000 && u.cachedInputAudioTokens == 4000, "7000 audio, of which 4000 cached")
        #expect(u.outputAudioTokens == 800)
    }

    @Test func chatUsageWithoutACachedBreakdownKeepsItsAudio() throws {
        let u = ProviderUsage.openAIChat(
            try json(
                #"{"prompt_tokens":100,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":60}}"#
            ))
        #expect(u.inputAudioTokens == 60 && u.cachedInputAudioTokens == 0)
    }

    @Test func theUsageReportsCachedAudioIsNamedOnceInsideBothCounts() throws {
        let page = try ReportDecoding.openAIUsage(
            json(
                """
                {"object":"page","data":[{"object":"bucket","start_time":1767225600,"end_time":1767312000,"results":[
                  {"object":"organization.usage.completions.result","input_tokens":10000,"input_cached_tokens":6000,
                   "input_cached_audio_tokens":4000,"input_cached_text_tokens":2000,"input_audio_tokens":3000,
                   "output_tokens":1000,"output_audio_tokens":800,"num_model_requests":1,"model":"gpt-realtime"}]}],
                 "has_more":false,"next_page":null}
                """), report: .openAICompletions)
        let row = try #require(page.buckets.first?.rows.first)
        #expect(row.usage.cachedInputTokens == 6000)
        #expect(row.usage.inputAudioTokens == 7000, "3000 uncached + 4000 cached audio")
        #expect(row.usage.cachedInputAudioTokens == 4000, "inside the 6000 cached and the 7000 audio")
    }
}
