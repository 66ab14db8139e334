import TallyCore

extension UsageCapture.Kind {
    public static let anthropicMessages = Self(provider: .anthropic, name: "messages", operation: .chat)
}

/// Anthropic: the key in `x-api-key` with an `anthropic-version`, errors as `{"type":"error","error":{"type","message"}}`.
struct AnthropicAPI: ProviderAPI {
    /// The API version Tally's own calls (key validation, reports) are written against.
    static let version = "2023-06-01"

    var kind: ProviderKind { .anthropic }
    var displayName: String { "Anthropic" }
    var defaultBaseURL: String { "https://api.anthropic.com" }

    // MARK: The gateway

    func captureKind(path: String) -> UsageCapture.Kind { path == "v1/messages" ? .anthropicMessages : .other }

    func isInference(segments: [String], method: String) -> Bool {
        let post = method == "POST", get = method == "GET"
        guard segments.first == "v1" else { return false }
        let s = segments.dropFirst()
        switch (s.first ?? "", s.count) {
        case ("messages", 1): return post
        case ("messages", 2): return post && s.last == "count_tokens"
        case ("models", 1), ("models", 2): return get
        default: return false
        }
    }

    /// `max_tokens`, which the Messages API requires.
    func requestedMaxOutputTokens(_ json: JSONValue) -> Int? { Self.tokenCount(json["max_tokens"]) }

    var keyHeaders: [String] { ["x-api-key"] }

    func forwardsHeader(_ name: String, passThrough: Bool) -> Bool {
        if name.hasPrefix("anthropic-") { return true }
        return passThrough && (name == "x-api-key" || name == "authorization")
    }

    /// The SDK may send the Tally token as a bearer too; Anthropic would read it, so it goes.
    func upstreamAuth(key: String) -> UpstreamAuth {
        UpstreamAuth(removed: ["Authorization"], headers: [("x-api-key", key)])
    }

    func errorBody(status: Int, message: String, code: String?) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("type", "error")
        w.key("error")
        w.beginObject()
        // Anthropic's own type for each status (docs: errors), which the SDK's exceptions mirror.
        let type =
            switch status {
            case 400, 422: "invalid_request_error"
            case 401: "authentication_error"
            case 403: "permission_error"
            case 413: "request_too_large"
            case 429: "rate_limit_error"
            case 503: "overloaded_error"
            case 504: "timeout_error"
            default: "api_error"
            }
        w.field("type", type)
        w.field("message", message)
        w.endObject()
        w.endObject()
        return w.text
    }

    func streamErrorEvent(message: String, code: String) -> String? {
        var w = JSONWriter()
        w.beginObject()
        w.field("type", "error")
        w.key("error")
        w.beginObject()
        w.field("type", "timeout_error")
        w.field("message", message)
        w.endObject()
        w.endObject()
        return "event: error\ndata: \(w.text)\n\n"
    }

    // MARK: Keys

    func validationRequest(key: String, admin: Bool) -> (path: String, headers: [(String, String)]) {
        (
            admin ? "/v1/organizations/me" : "/v1/models?limit=1",
            [("x-api-key", key), ("anthropic-version", Self.version)]
        )
    }

    // MARK: Usage

    func readUsage(
        _ v: JSONValue, kind: UsageCapture.Kind, into result: inout UsageCapture.Result, carried: inout JSONValue
    ) {
        let string = UsageCapture.string
        guard kind == .anthropicMessages else { return }
        switch string(v["type"]) {
        case "message_start":
            let message = v["message"] ?? .null
            if let m = string(message["model"]) { result.model = m }
            carried = message["usage"] ?? .null
            result.usage = ProviderUsage.anthropic(carried)
            if let tier = ServiceTier.name(carried["service_tier"]) { result.serviceTier = tier }
        case "message_delta":
            // The delta's usage overwrites the counts it carries; the start's cache counts stay. The newer API
            // repeats every count here (cumulative, never increments); a count sent as null is absent, as in the
            // SDK's own accumulator: overwriting with it dropped the start's input or cache tokens.
            if case .object(let fields)? = v["usage"], case .object(var merged) = carried {
                for (k, value) in fields where value != .null {
                    if let i = merged.firstIndex(where: { $0.0 == k }) {
                        merged[i].1 = value
                    } else {
                        merged.append((k, value))
                    }
                }
                carried = .object(merged)
                result.usage = ProviderUsage.anthropic(carried)
                if let tier = ServiceTier.name(carried["service_tier"]) { result.serviceTier = tier }
            }
            if let r = string(v["delta"]?["stop_reason"]) { result.finishReason = r }
        case "message":
            if let m = string(v["model"]) { result.model = m }
            if let u = v["usage"] { result.usage = ProviderUsage.anthropic(u) }
            if let tier = ServiceTier.name(v["usage"]?["service_tier"]) { result.serviceTier = tier }
            if let r = string(v["stop_reason"]) { result.finishReason = r }
        default: break
        }
    }

    /// `service_tier`: `auto` (priority capacity when the organization has it) or `standard_only`, which is standard.
    func requestedServiceTier(_ json: JSONValue) -> String? {
        let tier = ServiceTier.name(json["service_tier"])
        return tier == "standard_only" ? "standard" : tier
    }

    var organizationReports: (any OrganizationReportsAPI)? { AnthropicReports() }
}
