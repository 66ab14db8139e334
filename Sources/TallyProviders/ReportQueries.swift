import TallyCore

/// The requests of each report: path, query and headers as the providers document them (each provider's in its
/// folder), one UTC day per bucket, as many buckets per page as the endpoint allows, grouped by every key Tally
/// breaks usage down by.
public enum ReportQueries {
    public struct Request: Sendable, Equatable {
        public var url: String
        public var headers: [String: String]
    }

    /// Buckets per page (each provider's reports say how many).
    public static func pageSize(_ report: ProviderReport) -> Int { report.api.pageSize(report) }

    public static func groupBy(_ report: ProviderReport) -> [String] { report.api.groupBy(report) }

    static func path(_ report: ProviderReport) -> String { report.api.path(report) }

    /// `from`/`to` are whole UTC days (the caller snaps them); the query's form and the key's headers are the
    /// provider's.
    public static func request(
        _ report: ProviderReport, baseURL: String, key: String, from: Instant, to: Instant,
        page: String?
    ) -> Request {
        let api = report.api
        var query = api.query(report, from: from, to: to)
        var headers = api.headers(key: key)
        if let page { query.append(("page", page)) }
        headers["User-Agent"] = "tally"
        let text = query.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
        return Request(url: baseURL + api.path(report) + "?" + text, headers: headers)
    }

    static func encode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"),
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
