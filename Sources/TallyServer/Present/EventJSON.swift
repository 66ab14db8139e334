import TallyCore
import TallyPrice
import TallyServices

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
        for c in TokenClass.counts { w.field(c.field, u[c]) }
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
        w.key("safety_flags")
        w.beginArray()
        for flag in o.safetyFlags { w.string(flag) }
        w.endArray()
        w.key("quality_flags")
        w.beginArray()
        for flag in o.qualityFlags { w.string(flag) }
        w.endArray()
    }

    /// `GET /api/v1/events/{id}/content`: the captured bodies as text (`null`: none), or `captured: false`.
    static func content(_ c: OpenedContent?, eventID: String) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("event_id", eventID)
        w.field("captured", c != nil)
        if let c {
            w.field("mode", c.mode.rawValue)
            w.field("request", c.request)
            w.field("request_truncated", c.requestTruncated)
            w.field("response", c.response)
            w.field("response_truncated", c.responseTruncated)
            w.field("expires_at", c.expiresAt.rfc3339)
        }
        w.endObject()
        return w.text
    }

    static func json(_ s: StoredEvent) -> String {
        var w = JSONWriter()
        write(s, into: &w)
        return w.text
    }

    /// One event as `GET /api/v1/events/{id}` shows it: the list's shape, plus why it costs what it costs (the entry
    /// it was priced with and one line per class) and how far that is from what the provider reported.
    static func detail(_ s: StoredEvent, breakdown: CostBreakdown?) -> String {
        var w = JSONWriter()
        w.beginObject()
        writeFields(s, into: &w)
        if let cost = s.cost, let reported = s.event.providerCost {
            w.field("cost_difference_usd", (cost - reported).decimalString)
        }
        w.key("cost_breakdown")
        if let breakdown {
            w.beginObject()
            PriceJSON.writeBreakdown(breakdown, into: &w)
            w.endObject()
        } else {
            w.null()
        }
        w.endObject()
        return w.text
    }

    /// `POST /api/v1/events`: how many events were stored and how many were already there.
    static func ingested(_ outcome: InsertOutcome) -> String {
        "{\"accepted\":\(outcome.accepted),\"duplicates\":\(outcome.duplicates)}"
    }

    /// `GET /api/v1/usage/summary`. `projectNames` and `teamNames` turn ids into names (an unknown id stays as it
    /// is); usage in no team has a null team, as a missing feature has a null feature.
    static func summary(
        _ result: SummaryResult, from: Instant, to: Instant, zone: TimeZoneRules, ledger: String, grain: TimeGrain?,
        dimensions: [UsageDimension], tagKeys: [String] = [], projectNames: [String: String],
        teamNames: [String: String] = [:]
    ) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("from", from.rfc3339)
        w.field("to", to.rfc3339)
        w.field("time_zone", ledger == "provider" ? "UTC" : zone.identifier)
        w.field("ledger", ledger)
        w.field("currency", "USD")
        w.field(
            "cost_basis",
            ledger == "provider"
                ? "cost_usd: the catalog's estimate of the reported usage; provider_cost_usd: what the provider's cost report billed"
                : "estimate from list prices; the provider's invoice is authoritative")
        w.key("totals")
        w.beginObject()
        writeMetrics(result.totals, into: &w)
        w.endObject()
        w.key("groups")
        w.beginArray()
        for group in result.groups {
            w.beginObject()
            if let grain, let period = group.period { w.field(grain.rawValue, period) }
            for d in dimensions {
                let value = group.values[d] ?? nil
                let names = d == .project ? projectNames : d == .team ? teamNames : [:]
                w.field(d.rawValue, value.map { names[$0] ?? $0 })
            }
            for key in tagKeys { w.field("tag:" + key, group.tags[key] ?? nil) }
            writeMetrics(group.metrics, into: &w)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }

    static func writeMetrics(_ m: UsageMetrics, into w: inout JSONWriter) { m.write(into: &w) }

    // MARK: CSV

    static let csvColumns =
        [
            "id", "timestamp", "provider", "model", "operation", "project", "feature", "user", "api_key", "environment",
        ] + TokenClass.counts.map(\.field) + [
            "requests", "status", "http_status", "error_type",
            "latency_ms", "time_to_first_token_ms", "streamed", "retries", "finish_reason", "batch", "service_tier",
            "cost_usd", "provider_cost_usd", "price_id", "source", "tags", "received_at", "safety_flags",
            "quality_flags",
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
        let cells: [String?] =
            [
                e.id, e.timestamp.rfc3339, e.provider, e.model, e.operation.rawValue, s.projectName,
                e.attribution.feature,
                e.attribution.user, e.attribution.apiKey, e.attribution.environment,
            ] + TokenClass.counts.map { "\(u[$0])" } + [
                "\(u.requests)", o.status.rawValue, o.httpStatus.map { "\($0)" },
                o.errorType, o.latencyMs.map { "\($0)" }, o.timeToFirstTokenMs.map { "\($0)" },
                o.streamed.map { $0 ? "true" : "false" },
                o.retries.map { "\($0)" }, o.finishReason, e.batch ? "true" : "false", e.serviceTier,
                s.cost?.decimalString,
                e.providerCost?.decimalString, s.priceID, e.source.rawValue, tags, s.receivedAt.rfc3339,
                o.safetyFlags.joined(separator: ","), o.qualityFlags.joined(separator: ","),
            ]
        return cells.map { CSV.cell($0 ?? "") }.joined(separator: ",") + "\r\n"
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
