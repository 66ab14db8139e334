import TallyCore

/// Every rule an event is held to, whatever its source (the API's JSON and NDJSON, the gateway's calls, later OTLP):
/// the limits, the field rules and their messages, written once. `EventDecoder` applies them to JSON as it reads it
/// (each problem with its event's index); `problems(in:now:)` applies them to an event Tally built itself; `admit`
/// makes a recorded call's event one they accept, for a source that must not refuse a call that already happened.
public enum EventRules {
    /// Events in one request.
    public static let maxEvents = 1000
    /// Bytes of one request body.
    public static let maxBodyBytes = 1 << 20
    /// Tags of one event, characters of a tag name, characters of a tag value.
    package static let maxTags = 32
    package static let maxTagName = 64
    package static let maxTagValue = 256
    /// How far ahead of the receiving clock a timestamp may be.
    package static let maxFutureSeconds: Int64 = 86_400
    /// `latency_ms`, `time_to_first_token_ms`, `retries` and `http_status` as read: at most this.
    package static let maxNumber: Int64 = 1_000_000_000_000_000

    /// The token counts and `requests`, by their API names, in the API's order.
    static let counts = [
        "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_input_tokens",
        "cache_write_1h_input_tokens", "reasoning_tokens", "input_audio_tokens", "output_audio_tokens",
        "cached_input_audio_tokens", "requests",
    ]
    /// Prompt and response content: Tally stores metadata only.
    public static let contentFields: Set<String> = [
        "prompt", "messages", "input", "completion", "response", "output", "content",
    ]

    /// The longest text each field may hold, in characters.
    public static let maxLength: [String: Int] = [
        "id": 128, "provider": 64, "model": 256, "operation": 64, "project": 64, "feature": 256, "user": 256,
        "api_key": 64, "environment": 64, "status": 16, "error_type": 128, "finish_reason": 64, "service_tier": 64,
        "source": 32,
    ]

    /// Why `text` cannot be the value of a text field with at most `max` characters, or nil when it can.
    public static func textProblem(_ text: String, max: Int) -> String? {
        // Characters never outnumber UTF-8 bytes, so grapheme counting is needed only for long multi-byte text.
        let bytes = text.utf8.count
        guard bytes >= 1, bytes <= max || text.count <= max else { return "must be 1 to \(max) characters" }
        guard !text.containsControlCharacters else {
            return "must not contain control characters"
        }
        return nil
    }

    /// Why `text` cannot be the value of the text field `field`, or nil when it can.
    package static func textProblem(_ text: String, field: String) -> String? {
        textProblem(text, max: maxLength[field] ?? 256)
    }

    /// A provider name: `[a-z0-9_.-]`, after the text rule.
    static func providerProblem(_ name: String) -> String? {
        guard
            name.utf8.allSatisfy({
                ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D
            })
        else {
            return "must match [a-z0-9_.-]{1,64}, such as openai, anthropic or google"
        }
        return nil
    }

    static func countLimitProblem(_ n: Int64, max: Int64) -> String? {
        n <= max ? nil : "must be at most \(max) (got \(n))"
    }

    static let requestsProblem = "must be at least 1"
    static let httpStatusProblem = "must be an HTTP status from 100 to 599"
    static func isHTTPStatus(_ n: Int64) -> Bool { (100...599).contains(n) }

    /// A provider cost as Tally keeps it: from 0 to `UsageLimits.maxAmount`.
    static func isAmount(_ usd: USD) -> Bool { usd.nanos >= 0 && usd <= UsageLimits.maxAmount }
    static let amountProblem =
        "must be a non-negative decimal of US dollars from 0 to \(UsageLimits.maxAmount.decimalString), "
        + "with at most 9 decimals, such as \"0.0125\""

    static func tagCountProblem(_ count: Int) -> String? {
        count <= maxTags ? nil : "at most \(maxTags) tags (got \(count))"
    }
    static func tagNameProblem(_ name: String) -> String? {
        (1...maxTagName).contains(name.count) ? nil : "tag names must be 1 to \(maxTagName) characters"
    }
    static func isTagValue(_ value: String) -> Bool { value.count <= maxTagValue }
    static let tagValueProblem = "must be a string of at most \(maxTagValue) characters"

    static let secretReason = "looks like a secret key: send a label or its last 4 characters, never the key"

    /// What a gateway event's `api_key` says (issue 22): the Tally token's name, or its id when it has none or a name
    /// the API would refuse (too long, control characters, looks like a secret). Never a secret.
    package static func apiKeyLabel(_ token: APIToken) -> String {
        token.name.flatMap { textProblem($0, field: "api_key") == nil && !looksLikeSecret($0) ? $0 : nil } ?? token.id
    }

    /// Provider secrets have recognisable prefixes and lengths; labels and last-4s do not.
    package static func looksLikeSecret(_ s: String) -> Bool {
        let prefixes = ["sk-", "sk_", "AIza", "tly_"]
        return s.count >= 20 && prefixes.contains { s.hasPrefix($0) }
    }

    /// How the token classes must relate (`input_tokens` counts all input, `output_tokens` all output), as problems.
    static func usageProblems(_ u: TokenUsage, index: Int?) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        if u.cachedInputTokens + u.cacheWriteInputTokens > u.inputTokens {
            problems.append(
                FieldProblem(
                    index: index, field: "cached_input_tokens",
                    reason:
                        "plus cache_write_input_tokens (\(u.cachedInputTokens + u.cacheWriteInputTokens)) exceeds input_tokens (\(u.inputTokens)): input_tokens counts all input, cached reads and cache writes included"
                ))
        }
        if u.cacheWrite1hInputTokens > u.cacheWriteInputTokens {
            problems.append(
                FieldProblem(
                    index: index, field: "cache_write_1h_input_tokens",
                    reason: "must not exceed cache_write_input_tokens (the 1-hour writes are part of all writes)"))
        }
        if u.reasoningTokens > u.outputTokens {
            problems.append(
                FieldProblem(
                    index: index, field: "reasoning_tokens",
                    reason: "must not exceed output_tokens (output_tokens includes reasoning)"))
        }
        if u.inputAudioTokens > u.inputTokens {
            problems.append(
                FieldProblem(index: index, field: "input_audio_tokens", reason: "must not exceed input_tokens"))
        }
        if u.outputAudioTokens > u.outputTokens {
            problems.append(
                FieldProblem(index: index, field: "output_audio_tokens", reason: "must not exceed output_tokens"))
        }
        // Cached audio is the audio part of the cache reads: inside both counts, or some token would be priced twice.
        if u.cachedInputAudioTokens > u.cachedInputTokens {
            problems.append(
                FieldProblem(
                    index: index, field: "cached_input_audio_tokens",
                    reason: "must not exceed cached_input_tokens (cached_input_tokens includes cached audio)"))
        }
        if u.cachedInputAudioTokens > u.inputAudioTokens {
            problems.append(
                FieldProblem(
                    index: index, field: "cached_input_audio_tokens",
                    reason: "must not exceed input_audio_tokens (input_audio_tokens includes cached audio)"))
        }
        return problems
    }

    static func timestampProblem(_ t: Instant, now: Instant) -> String? {
        t > now.adding(seconds: maxFutureSeconds) ? "is more than 24 hours in the future" : nil
    }

    /// The tags' problems: their number, each name, each value.
    static func tagProblems(_ tags: [String: String], index: Int? = nil) -> [FieldProblem] {
        if let reason = tagCountProblem(tags.count) {
            return [FieldProblem(index: index, field: "tags", reason: reason)]
        }
        var problems: [FieldProblem] = []
        for (k, v) in tags.sorted(by: { $0.key < $1.key }) {
            if let reason = tagNameProblem(k) {
                problems.append(FieldProblem(index: index, field: "tags", reason: reason))
            } else if !isTagValue(v) {
                problems.append(FieldProblem(index: index, field: "tags.\(k)", reason: tagValueProblem))
            }
        }
        return problems
    }

    /// The rules on who and what an event is charged to: the lengths, characters and secret check of each value, and
    /// the tags'.
    public static func attributionProblems(_ a: Attribution) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        for (field, value) in [
            ("project", a.project), ("feature", a.feature), ("user", a.user), ("api_key", a.apiKey),
            ("environment", a.environment),
        ] {
            guard let value else { continue }
            if let reason = textProblem(value, max: maxLength[field]!) {
                problems.append(FieldProblem(field: field, reason: reason))
            } else if field == "api_key", looksLikeSecret(value) {
                problems.append(FieldProblem(field: field, reason: secretReason))
            }
        }
        return problems + tagProblems(a.tags)
    }

    /// `attribution` without the values `attributionProblems` refuses (all tags when any tag is refused), and the
    /// refused fields' names, sorted: for a source that records a call that already happened rather than refuse it.
    public static func withoutRefusedValues(_ attribution: Attribution) -> (attribution: Attribution, refused: [String])
    {
        var kept = attribution
        var refused = Set<String>()
        for problem in attributionProblems(attribution) {
            let field = problem.field.hasPrefix("tags") ? "tags" : problem.field
            refused.insert(field)
            switch field {
            case "project": kept.project = nil
            case "feature": kept.feature = nil
            case "user": kept.user = nil
            case "api_key": kept.apiKey = nil
            case "environment": kept.environment = nil
            default: kept.tags = [:]
            }
        }
        return (kept, refused.sorted())
    }

    /// What the rules refuse in an event Tally built (not read from JSON), as the API would name it: every field rule
    /// and limit `EventDecoder` holds a request's events to, on the typed event.
    package static func problems(in event: UsageEvent, now: Instant) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        func text(_ field: String, _ value: String?) {
            if let value, let reason = textProblem(value, field: field) {
                problems.append(FieldProblem(field: field, reason: reason))
            }
        }
        text("id", event.id)
        if let reason = textProblem(event.provider, field: "provider") ?? providerProblem(event.provider) {
            problems.append(FieldProblem(field: "provider", reason: reason))
        }
        text("model", event.model)
        if let problem = event.usage.boundsProblem { problems.append(problem) }
        if event.usage.requests < 1 { problems.append(FieldProblem(field: "requests", reason: requestsProblem)) }
        problems += attributionProblems(event.attribution)
        let o = event.outcome
        if let status = o.httpStatus, !isHTTPStatus(Int64(status)) {
            problems.append(FieldProblem(field: "http_status", reason: httpStatusProblem))
        }
        text("error_type", o.errorType)
        for (field, n) in [
            ("latency_ms", o.latencyMs), ("time_to_first_token_ms", o.timeToFirstTokenMs), ("retries", o.retries),
        ] {
            guard let n else { continue }
            if n < 0 { problems.append(FieldProblem(field: field, reason: "must be a non-negative integer")) }
            if let reason = countLimitProblem(n, max: maxNumber) {
                problems.append(FieldProblem(field: field, reason: reason))
            }
        }
        text("finish_reason", o.finishReason)
        text("service_tier", event.serviceTier)
        if let cost = event.providerCost, !isAmount(cost) {
            problems.append(FieldProblem(field: "provider_cost_usd", reason: amountProblem))
        }
        problems += usageProblems(event.usage, index: nil)
        if let reason = timestampProblem(event.timestamp, now: now) {
            problems.append(FieldProblem(field: "timestamp", reason: reason))
        }
        return problems
    }

    /// What `admit` left out of an event.
    package struct Admission: Sendable, Equatable {
        /// Attribution fields refused (`tags` for all of them), sorted.
        package var refusedAttribution: [String] = []
        /// The count that made the usage refused, when it was.
        package var refusedUsage: String?
        package init(refusedAttribution: [String] = [], refusedUsage: String? = nil) {
            self.refusedAttribution = refusedAttribution
            self.refusedUsage = refusedUsage
        }
    }

    /// Makes `event` one the rules accept, for a source recording a call that already happened (the gateway), which
    /// must not refuse it: it may have cost money, and an event with less in it still counts the call.
    /// - Attribution values refused are left out, never truncated (a cut value could name another user or feature),
    ///   all tags when any tag is; the event says which in the tag `tally_refused_attribution`.
    /// - Counts out of bounds or that contradict each other (an upstream reporting absurd usage) are replaced by one
    ///   request with no tokens, the event marked an error (`usage_out_of_bounds`) with the count in the tag
    ///   `tally_refused_usage`; the caller leaves it unpriced rather than let the numbers poison every total.
    /// - Optional texts refused (`error_type`, `finish_reason`, `service_tier`) and an HTTP status or a provider cost
    ///   out of range are left out.
    /// Identity (`id`, `provider`, `model`) and `timestamp` are the source's to choose; `problems(in:now:)` still judges them.
    package static func admit(_ event: inout UsageEvent) -> Admission {
        var admission = Admission()
        (event.attribution, admission.refusedAttribution) = withoutRefusedValues(event.attribution)
        if !admission.refusedAttribution.isEmpty {
            event.attribution.tags["tally_refused_attribution"] = admission.refusedAttribution.joined(separator: ",")
        }
        if let t = event.outcome.errorType, textProblem(t, field: "error_type") != nil { event.outcome.errorType = nil }
        if let t = event.outcome.finishReason, textProblem(t, field: "finish_reason") != nil {
            event.outcome.finishReason = nil
        }
        if let t = event.serviceTier, textProblem(t, field: "service_tier") != nil { event.serviceTier = nil }
        if let status = event.outcome.httpStatus, !isHTTPStatus(Int64(status)) { event.outcome.httpStatus = nil }
        if let cost = event.providerCost, !isAmount(cost) { event.providerCost = nil }
        if let n = event.outcome.latencyMs, n < 0 || n > maxNumber { event.outcome.latencyMs = nil }
        if let n = event.outcome.timeToFirstTokenMs, n < 0 || n > maxNumber { event.outcome.timeToFirstTokenMs = nil }
        if let n = event.outcome.retries, n < 0 || n > maxNumber { event.outcome.retries = nil }
        let usage = event.usage
        if let field = usage.boundsProblem?.field ?? (usage.requests < 1 ? "requests" : nil)
            ?? usageProblems(usage, index: nil).first?.field
        {
            admission.refusedUsage = field
            event.usage = TokenUsage()
            event.outcome.status = .error
            event.outcome.errorType = "usage_out_of_bounds"
            event.attribution.tags["tally_refused_usage"] = field
        }
        return admission
    }
}
