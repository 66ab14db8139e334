import TallyCore

extension ProviderUsage {
    /// OpenAI Chat Completions `usage` (`CompletionUsage`).
    public static func openAIChat(_ usage: JSONValue) -> TokenUsage {
        var u = TokenUsage()
        u.inputTokens = int(usage, "prompt_tokens")
        u.outputTokens = int(usage, "completion_tokens")
        let prompt = usage["prompt_tokens_details"] ?? .null
        let completion = usage["completion_tokens_details"] ?? .null
        u.cachedInputTokens = int(prompt, "cached_tokens")
        u.cacheWriteInputTokens = int(prompt, "cache_write_tokens")
        u.inputAudioTokens = uncachedAudio(prompt)
        u.reasoningTokens = int(completion, "reasoning_tokens")
        u.outputAudioTokens = int(completion, "audio_tokens")
        return u
    }

    /// OpenAI Responses API `usage` (`ResponseUsage`).
    public static func openAIResponses(_ usage: JSONValue) -> TokenUsage {
        var u = TokenUsage()
        u.inputTokens = int(usage, "input_tokens")
        u.outputTokens = int(usage, "output_tokens")
        let input = usage["input_tokens_details"] ?? .null
        u.cachedInputTokens = int(input, "cached_tokens")
        u.cacheWriteInputTokens = int(input, "cache_write_tokens")
        u.reasoningTokens = int(usage["output_tokens_details"] ?? .null, "reasoning_tokens")
        return u
    }

    /// Audio input not read from the cache. OpenAI counts cached audio both in `cached_tokens` and in
    /// `audio_tokens` (`cached_tokens_details.audio_tokens` says how much): it is billed once, on the cached line
    /// (whose rate is the cached-audio rate for the realtime models but gpt-realtime-mini; docs/pricing.md).
    static func uncachedAudio(_ details: JSONValue) -> Int64 {
        let cachedAudio = int(details["cached_tokens_details"] ?? .null, "audio_tokens")
        return max(0, int(details, "audio_tokens") - cachedAudio)
    }
}
