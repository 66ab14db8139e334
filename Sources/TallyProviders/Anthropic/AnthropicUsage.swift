import TallyCore

extension ProviderUsage {
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
}
