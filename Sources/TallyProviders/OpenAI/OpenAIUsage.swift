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
        u.inputAudioTokens = int(prompt, "audio_tokens")
        u.cachedInputAudioTokens = cachedAudio(prompt, of: u)
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
        u.inputAudioTokens = int(input, "audio_tokens")
        u.cachedInputAudioTokens = cachedAudio(input, of: u)
        u.reasoningTokens = int(usage["output_tokens_details"] ?? .null, "reasoning_tokens")
        return u
    }

    /// The audio part of the cached input: `cached_tokens_details.audio_tokens` in the input details, where OpenAI's
    /// Realtime usage puts it (its `audio_tokens` and `cached_tokens` both include it, as Tally's counts do). The
    /// openai SDK 3.54 types it only for Realtime; Chat and Responses answers that carry it are read the same way.
    /// Capped by both counts it belongs to, so a contradicting upstream cannot make a token billed twice.
    static func cachedAudio(_ details: JSONValue, of u: TokenUsage) -> Int64 {
        let reported = int(details["cached_tokens_details"] ?? .null, "audio_tokens")
        return min(reported, u.cachedInputTokens, u.inputAudioTokens)
    }
}
