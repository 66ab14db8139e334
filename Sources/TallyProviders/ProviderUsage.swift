import TallyCore

/// Maps each provider's own `usage` object to Tally's token classes (see docs/pricing.md, "Token classes").
///
/// The providers count differently: OpenAI and Gemini include cached tokens in the prompt count, Anthropic's
/// `input_tokens` excludes cache reads and writes; Gemini's `candidatesTokenCount` excludes thoughts, the
/// others' output counts include reasoning. Tally's `input_tokens` is ALL input and `output_tokens` ALL output.
/// The gateway, provider sync and the tests all use these functions; each provider's are in its folder.
///
/// Every count read is capped just above `UsageLimits.maxCount`, so the few sums in each provider's mapping can never overflow, whatever
/// an upstream sends; a result holding such a count fails `TokenUsage.boundsProblem`, which the gateway checks.
public enum ProviderUsage {
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
        for item in items where item["modality"] == .string(name) {
            total = min(total + int(item, "tokenCount"), tooLarge)
        }
        return total
    }
}
