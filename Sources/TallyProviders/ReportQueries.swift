import TallyCore

/// The requests of each report: path, query and headers as the providers document them, one UTC day per bucket,
/// as many buckets per page as the endpoint allows, grouped by every key Tally breaks usage down by.
public enum ReportQueries {
    public struct Request: Sendable, Equatable {
        public var url: String
        public var headers: [String: String]
    }

    /// Buckets per page. Grouped by model × project × key, one day can hold tens of thousands of rows (50 models ×
    /// 20 projects × 20 keys), so the reports grouped that finely (and Anthropic's costs by description) are read a
    /// day per page, which keeps a page to a
    /// few megabytes and the server's memory flat; the others a week per page, the providers' own default.
    public static func pageSize(_ report: ProviderReport) -> Int {
        report == .openAICompletions || report == .anthropicMessages || report == .anthropicCosts ? 1 : 7
    }

    public static func groupBy(_ report: ProviderReport) -> [String] {
        switch report {
        case .openAICompletions: ["model", "project_id", "api_key_id", "batch", "service_tier"]
        case .openAIEmbeddings, .openAIModerations, .openAIImages, .openAIAudioSpeeches, .openAIAudioTranscriptions:
            ["model", "project_id", "api_key_id"]
        case .openAICosts: ["project_id", "line_item"]
        case .anthropicMessages: ["model", "api_key_id", "workspace_id", "service_tier", "context_window"]
        case .anthropicCosts: ["workspace_id", "description"]
        }
    }

    static func path(_ report: ProviderReport) -> String {
        switch report {
        case .openAICompletions: "/v1/organization/usage/completions"
        case .openAIEmbeddings: "/v1/organization/usage/embeddings"
        case .openAIModerations: "/v1/organization/usage/moderations"
        case .openAIImages: "/v1/organization/usage/images"
        case .openAIAudioSpeeches: "/v1/organization/usage/audio_speeches"
        case .openAIAudioTranscriptions: "/v1/organization/usage/audio_transcriptions"
        case .openAICosts: "/v1/organization/costs"
        case .anthropicMessages: "/v1/organizations/usage_report/messages"
        case .anthropicCosts: "/v1/organizations/cost_report"
        }
    }

    /// `from`/`to` are whole UTC days (the caller snaps them). OpenAI takes Unix seconds and repeated array
    /// parameters; Anthropic RFC 3339 times and bracketed arrays (`group_by[]=`).
    public static func request(_ report: ProviderReport, baseURL: String, key: String, from: Instant, to: Instant,
                               page: String?) -> Request {
        var query: [(String, String)]
        var headers: [String: String]
        switch report.provider {
        case .anthropic:
            query = [("starting_at", from.rfc3339), ("ending_at", to.rfc3339), ("bucket_width", "1d"),
                     ("limit", String(pageSize(report)))] + groupBy(report).map { ("group_by[]", $0) }
            headers = ["x-api-key": key, "anthropic-version": "2023-06-01"]
        default:
            query = [("start_time", String(from.seconds)), ("end_time", String(to.seconds)), ("bucket_width", "1d"),
                     ("limit", String(pageSize(report)))] + groupBy(report).map { ("group_by", $0) }
            headers = ["Authorization": "Bearer \(key)"]
        }
        if let page { query.append(("page", page)) }
        headers["User-Agent"] = "tally"
        let text = query.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
        return Request(url: baseURL + path(report) + "?" + text, headers: headers)
    }

    static func encode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(Character(UnicodeScalar(b)))
            default:
                // Everything else is percent-encoded, brackets included (`group_by%5B%5D`, which servers read as
                // `group_by[]`): a raw bracket makes Foundation's URL re-encode the whole query, `%` signs too.
                let hex = String(b, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}

/// Exponential backoff with full jitter, capped, that honours the provider's `Retry-After` when it asks for longer.
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var baseMilliseconds: Int64
    public var capMilliseconds: Int64

    public init(maxAttempts: Int = 6, baseMilliseconds: Int64 = 1000, capMilliseconds: Int64 = 60_000) {
        self.maxAttempts = maxAttempts
        self.baseMilliseconds = baseMilliseconds
        self.capMilliseconds = capMilliseconds
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1). `random` is in [0, 1).
    public func delayMilliseconds(afterAttempt attempt: Int, retryAfterSeconds: Double?, random: Double) -> Int64 {
        let exponential = min(capMilliseconds, baseMilliseconds << min(Int64(attempt - 1), 20))
        let jittered = Int64(Double(exponential) * (0.5 + random / 2))
        guard let retryAfterSeconds, retryAfterSeconds > 0 else { return jittered }
        return min(capMilliseconds, max(jittered, Int64(retryAfterSeconds * 1000)))
    }

    /// 429, 408 and every 5xx (Anthropic's 529 included) are worth another try; other answers are final.
    public static func isRetryable(status: Int) -> Bool { status == 429 || status == 408 || status >= 500 }
}
