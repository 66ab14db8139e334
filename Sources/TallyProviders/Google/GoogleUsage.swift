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
        // Audio in the prompt has its own rate; cached audio is priced as a cache read, so only the uncached part.
        let audio =
            modality(metadata["promptTokensDetails"], "AUDIO") - modality(metadata["cacheTokensDetails"], "AUDIO")
        u.inputAudioTokens = max(0, min(audio, u.inputTokens - u.cachedInputTokens))
        u.outputAudioTokens = min(modality(metadata["candidatesTokensDetails"], "AUDIO"), u.outputTokens)
        return u
    }
}
