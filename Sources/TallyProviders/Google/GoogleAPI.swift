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
        w.field(
            "status",
            status == 401
                ? "UNAUTHENTICATED"
                : status == 403
                    ? "PERMISSION_DENIED"
                    : status == 504
                        ? "DEADLINE_EXCEEDED"
                        : status == 502 || status == 503
                            ? "UNAVAILABLE"
                            : status == 400 || status == 413
                                ? "INVALID_ARGUMENT"
                                : status == 422 ? "FAILED_PRECONDITION" : "INTERNAL")
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
            if let u = v["usageMetadata"], u != .null { result.usage = ProviderUsage.gemini(u) }
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
}
