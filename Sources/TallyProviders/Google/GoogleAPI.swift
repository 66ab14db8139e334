import TallyCore

extension UsageCapture.Kind {
    /// `:generateContent` and `:streamGenerateContent`; the stream is a JSON array, one object per line.
    public static let geminiGenerate = Self(
        provider: .google, name: "generateContent", operation: .chat, bareLines: true)
    public static let geminiEmbed = Self(provider: .google, name: "embedContent", operation: .embedding)
}

/// Google's Gemini API: the key in `x-goog-api-key` (or `?key=`), errors as `{"error":{"code","message","status"}}`.
/// It has no organization usage API, so nothing to sync.
struct GoogleAPI: ProviderAPI {
    var kind: ProviderKind { .google }
    var displayName: String { "Google" }
    var defaultBaseURL: String { "https://generativelanguage.googleapis.com" }

    // MARK: The gateway

    func captureKind(path: String) -> UsageCapture.Kind {
        if path.hasSuffix(":generateContent") || path.hasSuffix(":streamGenerateContent") { return .geminiGenerate }
        if path.hasSuffix(":embedContent") || path.hasSuffix(":batchEmbedContents") { return .geminiEmbed }
        return .other
    }

    /// /v1beta/models[/{model}[:method]] (and /v1, /v1alpha, which google-genai may call).
    func isInference(segments: [String], method: String) -> Bool {
        let post = method == "POST", get = method == "GET"
        guard segments.count >= 2, ["v1beta", "v1", "v1alpha"].contains(segments[0]), segments[1] == "models" else {
            return false
        }
        if segments.count == 2 { return get }
        guard segments.count == 3 else { return false }
        guard let colon = segments[2].lastIndex(of: ":") else { return get }
        let action = segments[2][segments[2].index(after: colon)...]
        return post
            && ["generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents", "countTokens"]
                .contains(action)
    }

    func streamsByPath(_ path: String) -> Bool { path.contains(":streamGenerateContent") }

    func model(inPath path: String) -> String? {
        guard let range = path.firstRange(of: "models/") else { return nil }
        return String(path[range.upperBound...].prefix { $0 != ":" })
    }

    /// `generationConfig.maxOutputTokens` (google-genai sends the camelCase name).
    func requestedMaxOutputTokens(_ json: JSONValue) -> Int? {
        // The API takes the snake_case spelling too: the larger of the two is the bound.
        [
            Self.tokenCount(json["generationConfig"]?["maxOutputTokens"]),
            Self.tokenCount(json["generation_config"]?["max_output_tokens"]),
        ].compactMap { $0 }.max()
    }

    func requestedAnswers(_ json: JSONValue) -> Int {
        Self.answerCount(json["generationConfig"]?["candidateCount"], json["generation_config"]?["candidate_count"])
    }

    var keyHeaders: [String] { ["x-goog-api-key"] }
    var keyQueryParameter: String? { "key" }

    /// Gemini reads a key, or an OAuth access token as a bearer.
    func forwardsHeader(_ name: String, passThrough: Bool) -> Bool {
        if name == "x-goog-api-key" || name == "authorization" { return passThrough }
        return name.hasPrefix("x-goog-") || name == "x-server-timeout"
    }

    func upstreamAuth(key: String) -> UpstreamAuth { UpstreamAuth(headers: [("x-goog-api-key", key)]) }

    func errorBody(status: Int, message: String, code: String?) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("error")
        w.beginObject()
        w.field("code", status)
        w.field("message", message)
        // google.rpc codes as the Gemini API maps them to HTTP; google-genai reads `code`, `status`, `message`.
        let rpc =
            switch status {
            case 400, 413: "INVALID_ARGUMENT"
            case 401: "UNAUTHENTICATED"
            case 403: "PERMISSION_DENIED"
            case 422: "FAILED_PRECONDITION"
            case 429: "RESOURCE_EXHAUSTED"
            case 502, 503: "UNAVAILABLE"
            case 504: "DEADLINE_EXCEEDED"
            default: "INTERNAL"
            }
        w.field("status", rpc)
        w.endObject()
        w.endObject()
        return w.text
    }

    /// Gemini's stream has no error event: the stream is cut off instead.
    func streamErrorEvent(message: String, code: String) -> String? { nil }

    // MARK: Keys

    func validationRequest(key: String, admin: Bool) -> (path: String, headers: [(String, String)]) {
        ("/v1beta/models?pageSize=1", [("x-goog-api-key", key)])
    }

    // MARK: Usage

    func readUsage(
        _ v: JSONValue, kind: UsageCapture.Kind, into result: inout UsageCapture.Result, carried: inout JSONValue
    ) {
        let string = UsageCapture.string
        switch kind {
        case .geminiGenerate:
            if let m = string(v["modelVersion"]) { result.model = m }
            if let u = v["usageMetadata"], u != .null {
                result.usage = ProviderUsage.gemini(u)
                if let tier = Self.tier(inUsage: u) { result.serviceTier = tier }
            }
            if case .array(let candidates)? = v["candidates"],
                let r = candidates.lazy.compactMap({ string($0["finishReason"]) }).first
            {
                result.finishReason = r
            }
        case .geminiEmbed:
            if let u = v["usageMetadata"], u != .null { result.usage = ProviderUsage.gemini(u) }
        default:
            break
        }
    }

    /// The request's `serviceTier` (what google-genai sends for `config.service_tier`; the REST docs write
    /// `service_tier`, which the API reads too): `flex`, `standard`, `priority`.
    func requestedServiceTier(_ json: JSONValue) -> String? {
        Self.tier(ServiceTier.name(json["serviceTier"] ?? json["service_tier"]))
    }

    /// The tier that served, in `x-gemini-service-tier`: Google's documented way to see a priority call downgraded
    /// to `standard` (Gemini API, not Vertex).
    func servedServiceTier(header: (String) -> String?) -> String? {
        Self.tier(ServiceTier.name(header("x-gemini-service-tier").map(JSONValue.string)))
    }

    /// The tier `usageMetadata` names: `serviceTier` (Gemini API), else Vertex's `trafficType`, whose pay-as-you-go
    /// kinds are the tiers (`ON_DEMAND_FLEX` → flex, `ON_DEMAND_PRIORITY` → priority, `ON_DEMAND` → standard); any
    /// other traffic type is kept as it says (priced standard, noted), `TRAFFIC_TYPE_UNSPECIFIED` is none.
    static func tier(inUsage usage: JSONValue) -> String? {
        if let tier = tier(ServiceTier.name(usage["serviceTier"])) { return tier }
        switch ServiceTier.name(usage["trafficType"]) {
        case nil, "traffic_type_unspecified": return nil
        case "on_demand": return "standard"
        case "on_demand_flex": return "flex"
        case "on_demand_priority": return "priority"
        case let other?: return other
        }
    }

    /// Google writes a tier as `flex` or as its enum name `SERVICE_TIER_FLEX`; `unspecified` is the default, standard.
    static func tier(_ name: String?) -> String? {
        guard var name else { return nil }
        if name.hasPrefix("service_tier_") { name.removeFirst("service_tier_".count) }
        return name == "unspecified" || name.isEmpty ? "standard" : name
    }
}
