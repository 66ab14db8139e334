import TallyCore

extension UsageCapture.Kind {
    public static let openAIChat = Self(provider: .openai, name: "chat/completions", operation: .chat)
    public static let openAIResponses = Self(provider: .openai, name: "responses", operation: .chat)
    public static let openAIEmbeddings = Self(provider: .openai, name: "embeddings", operation: .embedding)
    public static let openAICompletions = Self(provider: .openai, name: "completions", operation: .completion)
}

/// OpenAI: the key as a bearer, errors as `{"error":{"message","type","param","code"}}`.
struct OpenAIAPI: ProviderAPI {
    var kind: ProviderKind { .openai }
    var displayName: String { "OpenAI" }
    var defaultBaseURL: String { "https://api.openai.com" }

    // MARK: The gateway

    func captureKind(path: String) -> UsageCapture.Kind {
        switch path.hasPrefix("v1/") ? String(path.dropFirst(3)) : path {
        case "chat/completions": .openAIChat
        case "responses": .openAIResponses
        case "embeddings": .openAIEmbeddings
        case "completions": .openAICompletions
        default: .other
        }
    }

    func isInference(segments: [String], method: String) -> Bool {
        let post = method == "POST", get = method == "GET"
        // The SDK's base URL ends in /v1; one without it (a compatible server's) maps the same way.
        let s = segments.first == "v1" ? Array(segments.dropFirst()) : segments
        switch (s.first ?? "", s.count) {
        case ("chat", 2): return post && s[1] == "completions"
        case ("responses", 1): return post
        case ("responses", 2): return get
        case ("responses", 3): return post && s[2] == "cancel"
        case ("completions", 1), ("embeddings", 1), ("moderations", 1): return post
        case ("audio", 2): return post && ["speech", "transcriptions", "translations"].contains(s[1])
        case ("images", 2): return post && ["generations", "edits", "variations"].contains(s[1])
        case ("models", 1), ("models", 2): return get
        default: return false
        }
    }

    /// A streamed chat whose client did not ask for the usage chunk (`stream_options.include_usage`) asks for it.
    func requestAskingForUsage(_ json: JSONValue, kind: UsageCapture.Kind) -> JSONValue? {
        guard kind == .openAIChat, json["stream"] == .bool(true),
            json["stream_options"]?["include_usage"] != .bool(true),
            case .object(var fields) = json
        else { return nil }
        var options: [(String, JSONValue)] = []
        if let i = fields.firstIndex(where: { $0.0 == "stream_options" }) {
            if case .object(let existing) = fields[i].1 { options = existing }
            fields.remove(at: i)
        }
        options.removeAll { $0.0 == "include_usage" }
        options.append(("include_usage", .bool(true)))
        fields.append(("stream_options", .object(options)))
        return .object(fields)
    }

    /// Chat's `max_completion_tokens` (its `max_tokens` is the deprecated spelling, still accepted), else the
    /// Responses API's `max_output_tokens`.
    func requestedMaxOutputTokens(_ json: JSONValue) -> Int? {
        Self.tokenCount(json["max_completion_tokens"]) ?? Self.tokenCount(json["max_tokens"])
            ?? Self.tokenCount(json["max_output_tokens"])
    }

    func requestedAnswers(_ json: JSONValue) -> Int { Self.answerCount(json["n"], json["best_of"]) }

    var keyHeaders: [String] { [] }

    func forwardsHeader(_ name: String, passThrough: Bool) -> Bool {
        if name.hasPrefix("openai-") || name == "x-client-request-id" { return true }
        return passThrough && name == "authorization"
    }

    func upstreamAuth(key: String) -> UpstreamAuth { UpstreamAuth(headers: [("Authorization", "Bearer \(key)")]) }

    func errorBody(status: Int, message: String, code: String?) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("error")
        w.beginObject()
        w.field("message", message)
        // The SDK picks its exception by status alone (403 PermissionDeniedError, 429 RateLimitError, 400
        // BadRequestError); the type and code say the same for code that reads the body.
        let type =
            switch status {
            case 400, 401, 413: "invalid_request_error"
            case 403: "permission_denied"
            case 429: "rate_limit_exceeded"
            case 504: "timeout"
            default: "tally_gateway_error"
            }
        w.field("type", type)
        w.field("param", nil as String?)
        // 422 is only ever the upstream address policy's refusal.
        let fallback: String? =
            switch status {
            case 401: "invalid_api_key"
            case 403: "permission_denied"
            case 422: "upstream_not_allowed"
            case 429: "rate_limit_exceeded"
            default: nil
            }
        w.field("code", code ?? fallback)
        w.endObject()
        w.endObject()
        return w.text
    }

    func streamErrorEvent(message: String, code: String) -> String? {
        var w = JSONWriter()
        w.beginObject()
        w.key("error")
        w.beginObject()
        w.field("message", message)
        w.field("type", "timeout")
        w.field("param", nil as String?)
        w.field("code", code)
        w.endObject()
        w.endObject()
        return "data: \(w.text)\n\n"
    }

    // MARK: Keys

    func validationRequest(key: String, admin: Bool) -> (path: String, headers: [(String, String)]) {
        admin
            ? ("/v1/organization/projects?limit=1", [("Authorization", "Bearer \(key)")])
            : ("/v1/models", [("Authorization", "Bearer \(key)")])
    }

    // MARK: Usage

    func readUsage(
        _ v: JSONValue, kind: UsageCapture.Kind, into result: inout UsageCapture.Result, carried: inout JSONValue
    ) {
        let string = UsageCapture.string
        switch kind {
        case .openAIChat, .openAICompletions:
            if let m = string(v["model"]) { result.model = m }
            // On the whole answer, and on every chunk of a stream: the latest one named wins.
            if let tier = ServiceTier.name(v["service_tier"]) { result.serviceTier = tier }
            if let u = v["usage"], u != .null { result.usage = ProviderUsage.openAIChat(u) }
            if case .array(let choices)? = v["choices"],
                let reason = choices.lazy.compactMap({ string($0["finish_reason"]) }).first
            {
                result.finishReason = reason
            }
        case .openAIEmbeddings:
            if let m = string(v["model"]) { result.model = m }
            if let u = v["usage"], u != .null { result.usage = ProviderUsage.openAIChat(u) }
        case .openAIResponses:
            // Non-streaming: the response itself; streaming: `response.*` events carrying it.
            let response = v["response"] ?? v
            if let m = string(response["model"]) { result.model = m }
            // `response.created` may still echo the request's tier; `response.completed` says what served.
            if let tier = ServiceTier.name(response["service_tier"]) { result.serviceTier = tier }
            if let u = response["usage"], u != .null { result.usage = ProviderUsage.openAIResponses(u) }
            // `incomplete` says only that the answer stopped short; `incomplete_details.reason` says why
            // (`max_output_tokens`, `content_filter`), as chat's `finish_reason` would.
            if let status = string(response["status"]), status != "in_progress" {
                result.finishReason =
                    status == "incomplete" ? string(response["incomplete_details"]?["reason"]) ?? status : status
            }
        default:
            break
        }
    }

    /// `service_tier`: `auto`, `default`, `flex`, `scale`, `priority` or `fast` (answered as `priority`).
    func requestedServiceTier(_ json: JSONValue) -> String? { ServiceTier.name(json["service_tier"]) }

    var organizationReports: (any OrganizationReportsAPI)? { OpenAIReports() }
}
