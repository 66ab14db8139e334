import TallyCore

/// One line of an event's cost: a token class, its tokens, the rate applied and what it came to.
public struct CostLine: Sendable, Equatable {
    /// A `TokenClass` raw value, or `request` for a per-request fee.
    public var tokenClass: String
    public var tokens: Int64
    /// The exact rate applied after every modifier, USD per 1M tokens (per request for `request`).
    public var rate: String
    public var cost: USD
}

/// Why an event costs what it costs: the entry, the rates and modifiers applied, and one line per class.
public struct CostBreakdown: Sendable, Equatable {
    public var entry: PriceEntry
    public var modelResolved: String
    public var lines: [CostLine]
    /// What was applied beyond the base rates (batch, service tier, long-context tier), in words.
    public var modifiers: [String]
    /// Why this usage has no cost (a count out of bounds, or a cost above `UsageLimits.maxAmount`): then `lines` is
    /// empty and the event is unpriced, never a wrapped or trapped number.
    public var problem: FieldProblem?
    /// The sum of the lines, each rounded half-up to the nano-dollar (at most `UsageLimits.maxAmount`).
    public var cost: USD { lines.reduce(.zero) { $0 + $1.cost } }
}

/// Prices token usage with one entry. Pure arithmetic on integers: no floating point anywhere.
public enum CostEngine {
    /// `longContext`: nil judges the long-context tier by one request's prompt size (events); true or false is what
    /// a provider's report says of the rows it aggregates (Anthropic's `context_window`), which count no requests.
    public static func price(
        _ usage: TokenUsage, batch: Bool, serviceTier: String?, entry: PriceEntry,
        modelResolved: String, longContext: Bool? = nil
    ) -> CostBreakdown {
        if let problem = usage.boundsProblem {
            return CostBreakdown(entry: entry, modelResolved: modelResolved, lines: [], modifiers: [], problem: problem)
        }
        let level = PricingLevel.chosen(for: usage, in: entry, longContext: longContext)
        var modifiers = level.modifiers
        let tier = level.serviceTier(serviceTier, of: entry)
        modifiers += tier.modifiers
        let batchRule = batch ? level.batch(of: entry) : nil
        modifiers += batch ? [level.batchModifier(of: entry)] : []
        /// A class's rate and the multipliers applied to it: the service tier's, then batch's unless the class has
        /// an absolute batch rate.
        func pricing(_ tokenClass: TokenClass) -> (rate: Rate, multipliers: [Multiplier]) {
            if let batchRule, let absolute = batchRule.prices[tokenClass] { return (absolute, []) }
            return (
                tier.prices.rate(tokenClass),
                (tier.multiplier.map { [$0] } ?? []) + (batchRule.map { [$0.multiplier] } ?? [])
            )
        }

        let u = usage
        let counts = lineOrder.map { ($0, billed($0, of: u)) }
        // Counts are within 0…10^12 and rates within Int64, but an organization's rate × multiplier × tokens can
        // still pass Int128 and any Int64: every product is checked, and a cost above the limit prices nothing.
        let limit = Int128(UsageLimits.maxAmount.nanos)
        var lines: [CostLine] = []
        var total: Int128 = 0
        func tooLarge(_ tokenClass: String) -> CostBreakdown {
            CostBreakdown(
                entry: entry, modelResolved: modelResolved, lines: [], modifiers: modifiers,
                problem: FieldProblem(
                    // The usage field behind the class, to name it when its cost is out of bounds.
                    field: TokenClass(rawValue: tokenClass)?.field ?? "requests",
                    reason:
                        "prices to more than \(UsageLimits.maxAmount.decimalString) USD for one event with \(entry.id): unpriced"
                ))
        }
        for (tokenClass, tokens) in counts where tokens > 0 {
            let (rate, multipliers) = pricing(tokenClass)
            // nano-dollars = tokens × (nano-dollars per 1M) × multipliers / 10⁶, rounded once; every product checked.
            guard let scaled = ScaledRate(rate, multipliers) else { return tooLarge(tokenClass.rawValue) }
            let (product, overflow) = Int128(tokens).multipliedReportingOverflow(by: scaled.value)
            let cost = overflow ? limit + 1 : roundHalfUp(product, dividedBy: scaled.unitsPerNano * 1_000_000)
            total += cost
            guard cost <= limit, total <= limit else { return tooLarge(tokenClass.rawValue) }
            lines.append(
                CostLine(
                    tokenClass: tokenClass.rawValue, tokens: tokens, rate: scaled.decimalString,
                    cost: USD(nanos: Int64(cost))))
        }
        if let fee = entry.perRequest, fee.nanos > 0, u.requests > 0 {
            let cost = Int128(fee.nanos) * Int128(u.requests)
            total += cost
            guard cost <= limit, total <= limit else { return tooLarge("request") }
            lines.append(
                CostLine(
                    tokenClass: "request", tokens: u.requests, rate: fee.decimalString, cost: USD(nanos: Int64(cost))))
        }
        return CostBreakdown(entry: entry, modelResolved: modelResolved, lines: lines, modifiers: modifiers)
    }

    /// The classes in the order of a breakdown's lines: the inputs, then the outputs.
    static let lineOrder: [TokenClass] = [
        .input, .cachedInput, .cacheWrite5m, .cacheWrite1h, .inputAudio, .cachedInputAudio, .output, .reasoning,
        .outputAudio,
    ]

    /// The tokens billed at a class's rate. `input_tokens` counts every input token (cached reads and cache writes
    /// included): it is split so that no token is charged twice; `output_tokens` includes reasoning and audio
    /// likewise, and `cache_write_input_tokens` the one-hour writes. Cached audio is inside both the cached and the
    /// audio counts: it is taken out of both lines and billed once, on its own line, so the input line (text not
    /// read from the cache) subtracts only the uncached audio. Every other class is its count as reported.
    static func billed(_ tokenClass: TokenClass, of u: TokenUsage) -> Int64 {
        // The rules hold cached audio within both counts; a provider report is not judged by them, so it is capped
        // here too, and a token is never billed on two lines whatever the counts say.
        let cachedAudio = min(u.cachedInputAudioTokens, u.cachedInputTokens, u.inputAudioTokens)
        let uncachedAudio = u.inputAudioTokens - cachedAudio
        return switch tokenClass {
        case .input: max(0, u.inputTokens - u.cachedInputTokens - u.cacheWriteInputTokens - uncachedAudio)
        case .cachedInput: u.cachedInputTokens - cachedAudio
        case .cacheWrite5m: u.cacheWriteInputTokens - u.cacheWrite1hInputTokens
        case .inputAudio: uncachedAudio
        case .cachedInputAudio: cachedAudio
        case .output: max(0, u.outputTokens - u.reasoningTokens - u.outputAudioTokens)
        case .cacheWrite1h, .reasoning, .outputAudio: u[tokenClass]
        }
    }

    /// `value / divisor` rounded half-up, for a non-negative value; never adds to `value`, so a product near
    /// Int128's limit cannot overflow here.
    static func roundHalfUp(_ value: Int128, dividedBy divisor: Int128) -> Int128 {
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: divisor)
        return remainder * 2 >= divisor ? quotient + 1 : quotient
    }

    /// `value / 10^scale` as a plain decimal string without trailing zeros.
    static func exactDecimal(_ value: Int128, scale: Int) -> String {
        var unit: Int128 = 1
        for _ in 0..<scale { unit *= 10 }
        let whole = value / unit
        var fraction = String(value % unit)
        fraction = String(repeating: "0", count: scale - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return fraction.isEmpty ? "\(whole)" : "\(whole).\(fraction)"
    }
}
