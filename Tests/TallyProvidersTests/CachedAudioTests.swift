import TallyCore
import Testing

@testable import TallyProviders

/// OpenAI counts cached audio twice in its own usage (inside the cached count and inside the audio count): Tally
/// counts it once, on the cached line, so no token is billed twice.
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
        #expect(u.inputAudioTokens == 3000, "7000 audio of which 4000 cached: 3000 uncached")
        #expect(u.outputAudioTokens == 800)
    }

    @Test func chatUsageWithoutACachedBreakdownKeepsItsAudio() throws {
        let u = ProviderUsage.openAIChat(
            try json(
                #"{"prompt_tokens":100,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":60}}"#
            ))
        #expect(u.inputAudioTokens == 60)
    }

    @Test func theUsageReportsCachedAudioIsInTheCachedCountOnly() throws {
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
        #expect(row.usage.inputAudioTokens == 3000, "the uncached audio only; the 4000 cached are in the 6000")
    }
}
