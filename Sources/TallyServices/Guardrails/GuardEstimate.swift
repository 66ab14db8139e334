import TallyCore

/// A call's worst case before it is made: input at its bound (the body's bytes), output at the `max_tokens` it asks
/// for, else the smallest `max_output_tokens` of the enforced policies in scope, else `defaultMaxOutputTokens`.
/// Monitor policies do not lower it: a dry run must not change what enforced limits reserve.
struct GuardEstimate {
    static let defaultMaxOutputTokens = 32_768

    let inputTokens: Int64
    let outputTokens: Int64
    /// Input + output: what `tokens_per_minute` reserves.
    var tokens: Int64 { inputTokens + outputTokens }
    /// The catalog's price of that usage; nil when the model has none (or the call names none).
    let cost: USD?

    init(_ call: GuardedCall, policies: [Policy], pricer: any Pricer, needsCost: Bool) {
        let cap = policies.filter { $0.mode == .enforce }.compactMap(\.rules.maxOutputTokens).min()
        let output = call.requestedMaxOutputTokens ?? cap ?? Self.defaultMaxOutputTokens
        // Clamped to what one event may count, so sums and the price stay exact in Int64.
        inputTokens = min(Int64(max(0, call.inputTokensBound)), UsageLimits.maxCount)
        // Each answer asked for (`n`, `candidateCount`) may be as long as the limit.
        outputTokens = min(Int64(max(0, output)) * Int64(min(max(call.answers, 1), 128)), UsageLimits.maxCount)
        guard needsCost, let model = call.model else {
            cost = nil
            return
        }
        var usage = TokenUsage()
        usage.inputTokens = inputTokens
        usage.outputTokens = outputTokens
        let event = UsageEvent(
            id: "guard-estimate", timestamp: call.at, provider: call.provider, model: model, usage: usage,
            attribution: Attribution(
                feature: call.feature, user: call.user, apiKey: call.apiKey, environment: call.environment),
            source: .gateway)
        cost = pricer.quote(event, organizationID: call.organizationID)?.cost
    }
}
