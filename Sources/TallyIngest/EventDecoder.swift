import TallyCore

/// Turns a request body into validated usage events, or every problem found (nothing is stored on any problem).
/// The rules and limits are `EventRules`'; this reads JSON and holds each field to them as it goes.
public enum EventDecoder {
    public enum Format: Sendable { case json, ndjson }

    /// How a key of an event object is treated: a known field (with its bit in the seen-set) or content.
    enum FieldKind: Equatable {
        case known(bit: UInt64)
        case content

        var bit: UInt64? {
            if case .known(let bit) = self { bit } else { nil }
        }
    }

    static let knownOrder =
        EventRules.counts + [
            "id", "timestamp", "provider", "model", "operation", "project", "feature", "user", "api_key", "environment",
            "tags", "status", "http_status", "error_type", "latency_ms", "time_to_first_token_ms", "streamed",
            "retries",
            "finish_reason", "batch", "service_tier", "provider_cost_usd", "source",
            // Aliases other trackers' clients send (issue 22), and a total checked against its parts.
            "request_timestamp", "project_id", "total_tokens",
        ]

    static let fieldKinds: [String: FieldKind] = {
        var kinds: [String: FieldKind] = [:]
        for (i, name) in knownOrder.enumerated() { kinds[name] = .known(bit: 1 << UInt64(i)) }
        for name in EventRules.contentFields { kinds[name] = .content }
        return kinds
    }()

    static func bit(_ name: String) -> UInt64 { fieldKinds[name]?.bit ?? 0 }

    /// Decodes one event object, an array of them, `{"events": […]}`, or NDJSON lines.
    public static func decode(_ body: [UInt8], format: Format, now: Instant, source: EventSource = .api)
        throws(TallyError) -> [UsageEvent]
    {
        let objects = try split(body, format: format)
        guard !objects.isEmpty else {
            throw .invalid([FieldProblem(field: "events", reason: "no events in the request")])
        }
        guard objects.count <= EventRules.maxEvents else {
            throw .tooLarge("at most \(EventRules.maxEvents) events per request (got \(objects.count))")
        }
        var events: [UsageEvent] = []
        events.reserveCapacity(objects.count)
        var problems: [FieldProblem] = []
        var contentProblem = false
        for (index, value) in objects.enumerated() {
            var reader = EventReader(index: index, now: now, defaultSource: source)
            if let event = reader.read(value) { events.append(event) }
            problems += reader.problems
            contentProblem = contentProblem || reader.sawContent
        }
        guard problems.isEmpty else { throw contentProblem ? .contentNotAllowed(problems) : .invalid(problems) }
        return events
    }

    /// One line of an NDJSON import (`EventImport`): its event, or `invalid` with its problems (without an index). `missingID`
    /// names an event that has no `id`, so that importing the same file again stores nothing twice.
    package static func decodeLine(
        _ line: ArraySlice<UInt8>, now: Instant, source: EventSource, missingID: () -> String
    ) throws(TallyError) -> UsageEvent {
        let value: JSONValue
        do {
            value = try JSONParser.parse(line)
        } catch {
            throw .invalid([FieldProblem(field: "line", reason: "is not valid JSON: \(error.reason)")])
        }
        var reader = EventReader(index: nil, now: now, defaultSource: source)
        reader.generatesMissingID = false
        guard var event = reader.read(value), reader.problems.isEmpty else { throw .invalid(reader.problems) }
        if reader.idWasMissing { event.id = missingID() }
        return event
    }

    static func split(_ body: [UInt8], format: Format) throws(TallyError) -> [JSONValue] {
        switch format {
        case .ndjson:
            var values: [JSONValue] = []
            var line = 0
            for slice in body.split(separator: 0x0A, omittingEmptySubsequences: false) {
                defer { line += 1 }
                if slice.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
                do {
                    values.append(try JSONParser.parse(slice))
                } catch {
                    throw .invalid([
                        FieldProblem(
                            index: values.count, field: "body",
                            reason: "line \(line + 1) is not valid JSON: \(error.reason)")
                    ])
                }
                guard values.count <= EventRules.maxEvents else {
                    throw .tooLarge("at most \(EventRules.maxEvents) events per request")
                }
            }
            return values
        case .json:
            let value: JSONValue
            do {
                value = try JSONParser.parse(body)
            } catch {
                throw .invalid([
                    FieldProblem(field: "body", reason: "malformed JSON at byte \(error.offset): \(error.reason)")
                ])
            }
            switch value {
            case .array(let items): return items
            case .object(let members) where members.count == 1 && members[0].0 == "events":
                guard case .array(let items) = members[0].1 else {
                    throw .invalid([FieldProblem(field: "events", reason: "must be an array of events")])
                }
                return items
            case .object: return [value]
            default:
                throw .invalid([
                    FieldProblem(
                        field: "body", reason: "expected an event object, an array of events or {\"events\": [...]}")
                ])
            }
        }
    }
}

/// Reads one event object, collecting a problem per bad field instead of stopping at the first.
struct EventReader {
    let index: Int?
    let now: Instant
    let defaultSource: EventSource
    var problems: [FieldProblem] = []
    var sawContent = false
    /// Whether the event had no `id` (it was given a new one, when `generatesMissingID`).
    var idWasMissing = false
    /// An import names id-less events itself: making a random id first would cost a fifth of its decoding.
    var generatesMissingID = true

    mutating func problem(_ field: String, _ reason: String) {
        problems.append(FieldProblem(index: index, field: field, reason: reason))
    }

    mutating func read(_ value: JSONValue) -> UsageEvent? {
        guard case .object(let members) = value else {
            problem("event", "must be a JSON object, not \(value.typeName)")
            return nil
        }
        var id: String?
        var timestamp: Instant?
        var provider: String?
        var model: String?
        var event = UsageEvent(
            id: "", timestamp: Instant(microseconds: 0), provider: "", model: "", source: defaultSource)
        var totalTokens: Int64?
        var seen = Set<String>()
        var seenKnown: UInt64 = 0
        for (key, value) in members {
            // One hash lookup classifies the key; the bit set catches repeats of known fields without hashing again.
            let kind = EventDecoder.fieldKinds[key]
            if let bit = kind?.bit {
                guard seenKnown & bit == 0 else { problem(key, "appears more than once"); continue }
                seenKnown |= bit
            } else {
                guard seen.insert(key).inserted else { problem(key, "appears more than once"); continue }
            }
            if kind == .content {
                sawContent = true
                problem(key, "content_not_allowed: Tally stores usage metadata only, never prompts or responses")
                continue
            }
            guard kind != nil else { problem(key, "unknown field"); continue }
            if case .null = value { continue }
            switch key {
            case "id":
                id = text(key, value)
            case "timestamp", "request_timestamp":
                guard timestamp == nil else {
                    problem(key, "give timestamp or request_timestamp, not both"); continue
                }
                guard case .string(let s) = value else {
                    problem(key, "must be an RFC 3339 date-time string"); continue
                }
                guard let t = Instant(rfc3339: s) else {
                    problem(key, "must be an RFC 3339 date-time such as 2026-11-20T10:15:00Z"); continue
                }
                timestamp = t
            case "provider":
                guard let s = text(key, value) else { continue }
                if let reason = EventRules.providerProblem(s) { problem(key, reason); continue }
                provider = s
            case "model": model = text(key, value)
            case "operation":
                guard let s = text(key, value) else { continue }
                guard let op = Operation(rawValue: s) else {
                    problem(key, "must be one of " + Operation.allCases.map(\.rawValue).joined(separator: ", "));
                    continue
                }
                event.operation = op
            case "input_tokens": event.usage.inputTokens = count(key, value, max: UsageLimits.maxCount) ?? 0
            case "output_tokens": event.usage.outputTokens = count(key, value, max: UsageLimits.maxCount) ?? 0
            case "cached_input_tokens":
                event.usage.cachedInputTokens = count(key, value, max: UsageLimits.maxCount) ?? 0
            case "cache_write_input_tokens":
                event.usage.cacheWriteInputTokens = count(key, value, max: UsageLimits.maxCount) ?? 0
            case "cache_write_1h_input_tokens":
                event.usage.cacheWrite1hInputTokens = count(key, value, max: UsageLimits.maxCount) ?? 0
            case "reasoning_tokens": event.usage.reasoningTokens = count(key, value, max: UsageLimits.maxCount) ?? 0
            case "input_audio_tokens": event.usage.inputAudioTokens = count(key, value, max: UsageLimits.maxCount) ?? 0
            case "output_audio_tokens":
                event.usage.outputAudioTokens = count(key, value, max: UsageLimits.maxCount) ?? 0
            case "cached_input_audio_tokens":
                event.usage.cachedInputAudioTokens = count(key, value, max: UsageLimits.maxCount) ?? 0
            case "requests":
                guard let n = count(key, value, max: UsageLimits.maxCount) else { continue }
                if n < 1 { problem(key, EventRules.requestsProblem) } else { event.usage.requests = n }
            case "project", "project_id":
                // `project_id` names a project by id or by name, as `project` does (the pipeline resolves both).
                guard event.attribution.project == nil else {
                    problem(key, "give project or project_id, not both"); continue
                }
                event.attribution.project = text(key, value)
            case "total_tokens": totalTokens = count(key, value, max: UsageLimits.maxCount)
            case "feature": event.attribution.feature = text(key, value)
            case "user": event.attribution.user = text(key, value)
            case "api_key":
                guard let s = text(key, value) else { continue }
                if EventRules.looksLikeSecret(s) {
                    problem(key, EventRules.secretReason)
                } else {
                    event.attribution.apiKey = s
                }
            case "environment": event.attribution.environment = text(key, value)
            case "tags": event.attribution.tags = tags(value)
            case "status":
                guard let s = text(key, value) else { continue }
                guard let st = EventStatus(rawValue: s) else { problem(key, "must be success or error"); continue }
                event.outcome.status = st
            case "http_status":
                guard let n = count(key, value) else { continue }
                if EventRules.isHTTPStatus(n) {
                    event.outcome.httpStatus = Int(n)
                } else {
                    problem(key, EventRules.httpStatusProblem)
                }
            case "error_type": event.outcome.errorType = text(key, value)
            case "latency_ms": event.outcome.latencyMs = count(key, value)
            case "time_to_first_token_ms": event.outcome.timeToFirstTokenMs = count(key, value)
            case "streamed": event.outcome.streamed = bool(key, value)
            case "retries": event.outcome.retries = count(key, value)
            case "finish_reason": event.outcome.finishReason = text(key, value)
            case "batch": event.batch = bool(key, value) ?? false
            case "service_tier": event.serviceTier = text(key, value)
            case "provider_cost_usd": event.providerCost = money(key, value)
            case "source":
                guard let s = text(key, value) else { continue }
                guard let source = EventSource(rawValue: s), source == defaultSource || source == .import else {
                    problem(key, "must be \(defaultSource.rawValue) or import here"); continue
                }
                event.source = source
            default: break
            }
        }
        if let totalTokens, totalTokens != event.usage.inputTokens + event.usage.outputTokens {
            problem(
                "total_tokens",
                "is \(totalTokens) but input_tokens + output_tokens is \(event.usage.inputTokens + event.usage.outputTokens)"
            )
        }
        if provider == nil,
            seenKnown & EventDecoder.bit("provider") == 0
                || members.contains(where: { $0.0 == "provider" && $0.1 == .null })
        {
            problem("provider", "is required")
        }
        if model == nil,
            seenKnown & EventDecoder.bit("model") == 0 || members.contains(where: { $0.0 == "model" && $0.1 == .null })
        {
            problem("model", "is required")
        }
        problems += EventRules.usageProblems(event.usage, index: index)
        if let t = timestamp, let reason = EventRules.timestampProblem(t, now: now) { problem("timestamp", reason) }
        guard problems.isEmpty, let provider, let model else { return nil }
        idWasMissing = id == nil
        event.id = id ?? (generatesMissingID ? Identifier.timeOrdered("evt", at: now) : "")
        // No timestamp: the event happened when it was received (documented in docs/api.md).
        event.timestamp = timestamp ?? now
        event.provider = provider
        event.model = model
        return event
    }

    /// A text field, held to `EventRules.maxLength` and `EventRules.textProblem`.
    mutating func text(_ key: String, _ value: JSONValue) -> String? {
        guard case .string(let s) = value else { problem(key, "must be a string, not \(value.typeName)"); return nil }
        if let reason = EventRules.textProblem(s, field: key) { problem(key, reason); return nil }
        return s
    }

    /// A whole number from 0 to `max`, written as a plain integer (`1e15` and `1.0` are not counts).
    mutating func count(_ key: String, _ value: JSONValue, max: Int64 = EventRules.maxNumber) -> Int64? {
        guard case .number(let literal) = value, let n = Int64(literal), n >= 0 else {
            problem(key, "must be a non-negative integer")
            return nil
        }
        if let reason = EventRules.countLimitProblem(n, max: max) { problem(key, reason); return nil }
        return n
    }

    mutating func bool(_ key: String, _ value: JSONValue) -> Bool? {
        guard case .bool(let b) = value else { problem(key, "must be true or false"); return nil }
        return b
    }

    /// Accepts `"0.0125"` or the number literal `0.0125`, read as exact decimal text, never as a float.
    mutating func money(_ key: String, _ value: JSONValue) -> USD? {
        let text: String
        switch value {
        case .string(let s): text = s
        case .number(let n): text = n
        default: problem(key, "must be a decimal string of US dollars such as \"0.0125\""); return nil
        }
        guard let usd = USD(decimal: text), EventRules.isAmount(usd) else {
            problem(key, EventRules.amountProblem); return nil
        }
        return usd
    }

    mutating func tags(_ value: JSONValue) -> [String: String] {
        guard case .object(let members) = value else {
            problem("tags", "must be an object of string values"); return [:]
        }
        if let reason = EventRules.tagCountProblem(members.count) { problem("tags", reason); return [:] }
        var tags: [String: String] = [:]
        for (k, v) in members {
            if let reason = EventRules.tagNameProblem(k) { problem("tags", reason); continue }
            guard case .string(let s) = v, EventRules.isTagValue(s) else {
                problem("tags.\(k)", EventRules.tagValueProblem); continue
            }
            tags[k] = s
        }
        return tags
    }
}
