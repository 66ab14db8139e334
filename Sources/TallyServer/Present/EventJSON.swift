import TallyCore
import TallyHTTP
import TallyServices
import TallyGateway
import TallyWeb

/// The JSON and CSV shapes of events and metrics. Money is always a decimal string, `null` when unpriced.
enum EventJSON {
    static func write(_ s: StoredEvent, into w: inout JSONWriter) {
        w.beginObject()
        writeFields(s, into: &w)
        w.endObject()
    }

    static func writeFields(_ s: StoredEvent, into w: inout JSONWriter) {
        let e = s.event
        let u = e.usage
        let o = e.outcome
        w.field("id", e.id)
        w.field("timestamp", e.timestamp.rfc3339)
        w.field("provider", e.provider)
        w.field("model", e.model)
        w.field("operation", e.operation.rawValue)
        w.field("input_tokens", u.inputTokens)
        w.field("output_tokens", u.outputTokens)
        w.field("cached_input_tokens", u.cachedInputTokens)
        w.field("cache_write_input_tokens", u.cacheWriteInputTokens)
        w.field("cache_write_1h_input_tokens", u.cacheWrite1hInputTokens)
        w.field("reasoning_tokens", u.reasoningTokens)
        w.field("input_audio_tokens", u.inputAudioTokens)
        w.field("output_audio_tokens", u.outputAudioTokens)
        w.field("requests", u.requests)
        w.field("project", s.projectName)
        w.field("feature", e.attribution.feature)
        w.field("user", e.attribution.user)
        w.field("api_key", e.attribution.apiKey)
        w.field("environment", e.attribution.environment)
        w.key("tags")
        w.beginObject()
        for k in e.attribution.tags.keys.sorted() { w.field(k, e.attribution.tags[k]) }
        w.endObject()
        w.field("status", o.status.rawValue)
        w.field("http_status", o.httpStatus)
        w.field("error_type", o.errorType)
        w.field("latency_ms", o.latencyMs)
        w.field("time_to_first_token_ms", o.timeToFirstTokenMs)
        w.field("streamed", o.streamed)
        w.field("retries", o.retries)
        w.field("finish_reason", o.finishReason)
        w.field("batch", e.batch)
        w.field("service_tier", e.serviceTier)
        w.field("provider_cost_usd", e.providerCost?.decimalString)
        w.field("source", e.source.rawValue)
        w.field("cost_usd", s.cost?.decimalString)
        w.field("price_id", s.priceID)
        w.field("received_at", s.receivedAt.rfc3339)
    }

    static func json(_ s: StoredEvent) -> String {
        var w = JSONWriter()
        write(s, into: &w)
        return w.text
    }

    static func writeMetrics(_ m: UsageMetrics, into w: inout JSONWriter) {
        w.field("requests", m.requests)
        w.field("input_tokens", m.inputTokens)
        w.field("output_tokens", m.outputTokens)
        w.field("cached_input_tokens", m.cachedInputTokens)
        w.field("cache_write_input_tokens", m.cacheWriteInputTokens)
        w.field("cache_write_1h_input_tokens", m.cacheWrite1hInputTokens)
        w.field("reasoning_tokens", m.reasoningTokens)
        w.field("input_audio_tokens", m.inputAudioTokens)
        w.field("output_audio_tokens", m.outputAudioTokens)
        w.field("errors", m.errors)
        w.field("cost_usd", m.knownCost?.decimalString)
        w.field("unpriced_requests", m.unpricedRequests)
        w.field("provider_cost_usd", m.providerCost.decimalString)
    }

    // MARK: CSV

    static let csvColumns = [
        "id", "timestamp", "provider", "model", "operation", "project", "feature", "user", "api_key", "environment",
        "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_input_tokens", "cache_write_1h_input_tokens",
        "reasoning_tokens", "input_audio_tokens", "output_audio_tokens", "requests", "status", "http_status", "error_type",
        "latency_ms", "time_to_first_token_ms", "streamed", "retries", "finish_reason", "batch", "service_tier",
        "cost_usd", "provider_cost_usd", "price_id", "source", "tags", "received_at",
    ]

    static let csvHeader = csvColumns.joined(separator: ",") + "\r\n"

    static func csvRow(_ s: StoredEvent) -> String {
        let e = s.event
        let u = e.usage
        let o = e.outcome
        var tags: String?
        if !e.attribution.tags.isEmpty {
            var w = JSONWriter()
            w.beginObject()
            for k in e.attribution.tags.keys.sorted() { w.field(k, e.attribution.tags[k]) }
            w.endObject()
            tags = w.text
        }
        let cells: [String?] = [
            e.id, e.timestamp.rfc3339, e.provider, e.model, e.operation.rawValue, s.projectName, e.attribution.feature,
            e.attribution.user, e.attribution.apiKey, e.attribution.environment, "\(u.inputTokens)", "\(u.outputTokens)",
            "\(u.cachedInputTokens)", "\(u.cacheWriteInputTokens)", "\(u.cacheWrite1hInputTokens)", "\(u.reasoningTokens)",
            "\(u.inputAudioTokens)", "\(u.outputAudioTokens)", "\(u.requests)", o.status.rawValue, o.httpStatus.map { "\($0)" },
            o.errorType, o.latencyMs.map { "\($0)" }, o.timeToFirstTokenMs.map { "\($0)" }, o.streamed.map { $0 ? "true" : "false" },
            o.retries.map { "\($0)" }, o.finishReason, e.batch ? "true" : "false", e.serviceTier, s.cost?.decimalString,
            e.providerCost?.decimalString, s.priceID, e.source.rawValue, tags, s.receivedAt.rfc3339,
        ]
        return cells.map { CSV.cell($0 ?? "") }.joined(separator: ",") + "\r\n"
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
