import TallyCore

/// Maps each provider's own `usage` object to Tally's token classes (see docs/pricing.md, "Token classes").
///
/// The providers count differently: OpenAI and Gemini include cached tokens in the prompt count, Anthropic's
/// `input_tokens` excludes cache reads and writes; Gemini's `candidatesTokenCount` excludes thoughts, the
/// others' output counts include reasoning. Tally's `input_tokens` is ALL input and `output_tokens` ALL output.
/// The gateway, provider sync and the tests all use these functions.
///
/// Every count read is capped just above `UsageLimits.maxCount`, so the few sums below can never overflow, whatever
/// an upstream sends; a result holding such a count fails `TokenUsage.boundsProblem`, which the gateway checks.
public enum ProviderUsage {
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

    /// Anthropic Messages `usage` (the final one: `message_start`'s merged with the last `message_delta`'s).
    public static func anthropic(_ usage: JSONValue) -> TokenUsage {
        var u = TokenUsage()
        let read = int(usage, "cache_read_input_tokens")
        let creation = usage["cache_creation"] ?? .null
        let write5m = int(creation, "ephemeral_5m_input_tokens")
        let write1h = int(creation, "ephemeral_1h_input_tokens")
        // Older responses give only the total of writes; newer ones split it by TTL as well.
        let writes = max(int(usage, "cache_creation_input_tokens"), write5m + write1h)
        u.inputTokens = int(usage, "input_tokens") + read + writes
        u.cachedInputTokens = read
        u.cacheWriteInputTokens = writes
        u.cacheWrite1hInputTokens = write1h
        u.outputTokens = int(usage, "output_tokens")
        u.reasoningTokens = min(int(usage["output_tokens_details"] ?? .null, "thinking_tokens"), u.outputTokens)
        return u
    }

    /// Gemini `usageMetadata`. Tool results fed back are input; thoughts are output, billed at the output rate.
    public static func gemini(_ metadata: JSONValue) -> TokenUsage {
        var u = TokenUsage()
        u.inputTokens = int(metadata, "promptTokenCount") + int(metadata, "toolUsePromptTokenCount")
        u.cachedInputTokens = int(metadata, "cachedContentTokenCount")
        let thoughts = int(metadata, "thoughtsTokenCount")
        u.outputTokens = int(metadata, "candidatesTokenCount") + thoughts
        u.reasoningTokens = thoughts
        // Audio in the prompt has its own rate; cached audio is priced as a cache read, so only the uncached part.
        let audio = modality(metadata["promptTokensDetails"], "AUDIO") - modality(metadata["cacheTokensDetails"], "AUDIO")
        u.inputAudioTokens = max(0, min(audio, u.inputTokens - u.cachedInputTokens))
        u.outputAudioTokens = min(modality(metadata["candidatesTokensDetails"], "AUDIO"), u.outputTokens)
        return u
    }

    /// A count beyond the limit: still small enough to add a few of without overflow, and out of bounds.
    static let tooLarge = UsageLimits.maxCount + 1

    static func int(_ object: JSONValue, _ key: String) -> Int64 {
        guard case .number(let literal)? = object[key] else { return 0 }
        // Negative, fractional or beyond Int64 (`1e308`): not a count, so out of bounds rather than silently 0.
        guard let n = Int64(literal), n >= 0 else { return tooLarge }
        return min(n, tooLarge)
    }

    static func modality(_ details: JSONValue?, _ name: String) -> Int64 {
        guard case .array(let items)? = details else { return 0 }
        var total: Int64 = 0
        for item in items where item["modality"] == .string(name) { total = min(total + int(item, "tokenCount"), tooLarge) }
        return total
    }
}
