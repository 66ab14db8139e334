import TallyCore

extension ProviderUsage {
    /// Gemini `usageMetadata`. Tool results fed back are input; thoughts are output, billed at the output rate.
    public static func gemini(_ metadata: JSONValue) -> TokenUsage {
        var u = TokenUsage()
        u.inputTokens = int(metadata, "promptTokenCount") + int(metadata, "toolUsePromptTokenCount")
        u.cachedInputTokens = int(metadata, "cachedContentTokenCount")
        let thoughts = int(metadata, "thoughtsTokenCount")
        u.outputTokens = int(metadata, "candidatesTokenCount") + thoughts
        u.reasoningTokens = thoughts
        // Audio in the prompt has its own rate, and cached audio another: the prompt's audio counts all of it (cached
        // included, as `promptTokenCount` includes the cache), and the cache's audio is its cached part.
        u.inputAudioTokens = min(modality(metadata["promptTokensDetails"], "AUDIO"), u.inputTokens)
        u.cachedInputAudioTokens = min(
            modality(metadata["cacheTokensDetails"], "AUDIO"), u.cachedInputTokens, u.inputAudioTokens)
        u.outputAudioTokens = min(modality(metadata["candidatesTokensDetails"], "AUDIO"), u.outputTokens)
        return u
    }
}
