import TallyCore

/// One page of a provider report, decoded: whole buckets, and where the next page is.
public struct ReportPage<Row: Sendable & Equatable>: Sendable, Equatable {
    public var buckets: [ProviderBucket<Row>]
    public var hasMore: Bool
    public var nextPage: String?
}

/// A provider answer that does not match its documented format. Nothing of that page is stored.
public struct MalformedReport: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "malformed provider answer: \(path) \(reason)" }
}

/// Decodes the providers' usage and cost reports (docs: ../shared/reference/provider-apis.md 1.2, 1.3, 2.2, 2.3) into
/// Tally's terms. Numbers are read from their JSON text, so amounts stay exact.
public enum ReportDecoding {
    // MARK: Reading helpers

    struct Reader {
        let value: JSONValue
        let path: String

        func field(_ name: String) -> Reader? {
            guard let v = value[name], v != .null else { return nil }
            return Reader(value: v, path: path + "." + name)
        }

        func require(_ name: String) throws(MalformedReport) -> Reader {
            guard let r = field(name) else { throw MalformedReport(path: path + "." + name, reason: "is missing") }
            return r
        }

        /// A count: a whole number from 0 to `UsageLimits.maxCount`. Anything else refuses the page, so a hostile or
        /// broken report can neither trap the sync (which would stop every replica) nor store an absurd number.
        func int() throws(MalformedReport) -> Int64 {
            guard case .number(let text) = value, let n = Int64(text) else { throw MalformedReport(path: path, reason: "is not an integer") }
            guard (0...UsageLimits.maxCount).contains(n) else {
                throw MalformedReport(path: path, reason: "is \(n), outside 0 to \(UsageLimits.maxCount)")
            }
            return n
        }

        /// Unix seconds from 1970 to 9999, so the microseconds never overflow.
        func unixSeconds(_ name: String) throws(MalformedReport) -> Instant {
            let r = try require(name)
            guard case .number(let text) = r.value, let n = Int64(text), (0...253_402_300_799).contains(n) else {
                throw MalformedReport(path: r.path, reason: "is not a Unix time in seconds")
            }
            return Instant(seconds: n)
        }

        /// An amount within ±`UsageLimits.maxAmount`, from exact decimal text.
        func amount(_ text: String, shift: Int = 0) throws(MalformedReport) -> USD {
            guard let usd = USD(literal: text, shift: shift) else {
                throw MalformedReport(path: path, reason: shift == 2 ? "is not a decimal amount in cents" : "is not a decimal amount")
            }
            guard usd.nanos.magnitude <= UsageLimits.maxAmount.nanos.magnitude else {
                throw MalformedReport(path: path, reason: "is beyond \(UsageLimits.maxAmount.decimalString) USD")
            }
            return usd
        }

        func string() throws(MalformedReport) -> String {
            guard case .string(let s) = value else { throw MalformedReport(path: path, reason: "is not a string") }
            return s
        }

        func bool() throws(MalformedReport) -> Bool {
            guard case .bool(let b) = value else { throw MalformedReport(path: path, reason: "is not true or false") }
            return b
        }

        func array() throws(MalformedReport) -> [Reader] {
            guard case .array(let items) = value else { throw MalformedReport(path: path, reason: "is not an array") }
            return items.enumerated().map { Reader(value: $0.element, path: "\(path)[\($0.offset)]") }
        }

        func int(_ name: String) throws(MalformedReport) -> Int64 { try require(name).int() }
        func optionalInt(_ name: String) throws(MalformedReport) -> Int64 { try field(name)?.int() ?? 0 }
        func optionalString(_ name: String) throws(MalformedReport) -> String? { try field(name)?.string() }
    }

    static func page<Row>(_ json: JSONValue, bucket: (Reader) throws(MalformedReport) -> ProviderBucket<Row>)
        throws(MalformedReport) -> ReportPage<Row>
    {
        let root = Reader(value: json, path: "$")
        var buckets: [ProviderBucket<Row>] = []
        for b in try root.require("data").array() { buckets.append(try bucket(b)) }
        let hasMore = try root.require("has_more").bool()
        let next = try root.optionalString("next_page")
        if hasMore && next == nil { throw MalformedReport(path: "$.next_page", reason: "is missing while has_more is true") }
        return ReportPage(buckets: buckets, hasMore: hasMore, nextPage: hasMore ? next : nil)
    }

    // MARK: OpenAI (Unix-second buckets)

    static func openAIBucket<Row>(_ b: Reader, row: (Reader, Instant, Instant) throws(MalformedReport) -> Row)
        throws(MalformedReport) -> ProviderBucket<Row>
    {
        let start = try b.unixSeconds("start_time")
        let end = try b.unixSeconds("end_time")
        var rows: [Row] = []
        for r in try b.require("results").array() { rows.append(try row(r, start, end)) }
        return ProviderBucket(start: start, end: end, rows: rows)
    }

    public static func openAIUsage(_ json: JSONValue, report: ProviderReport) throws(MalformedReport) -> ReportPage<ProviderUsageRow> {
        try page(json) { (b: Reader) throws(MalformedReport) in
            try openAIBucket(b) { (r: Reader, start: Instant, end: Instant) throws(MalformedReport) in
                var row = ProviderUsageRow(bucketStart: start, bucketEnd: end, model: try r.optionalString("model"),
                                           projectRef: try r.optionalString("project_id"), apiKeyRef: try r.optionalString("api_key_id"))
                var u = TokenUsage()
                u.requests = try r.int("num_model_requests")
                switch report {
                case .openAICompletions:
                    // input_tokens already includes cached reads and cache writes, as Tally's input does.
                    u.inputTokens = try r.int("input_tokens")
                    u.outputTokens = try r.int("output_tokens")
                    u.cachedInputTokens = try r.optionalInt("input_cached_tokens")
                    u.cacheWriteInputTokens = try r.optionalInt("input_cache_write_tokens")
                    u.inputAudioTokens = try r.optionalInt("input_audio_tokens") + r.optionalInt("input_cached_audio_tokens")
                    u.outputAudioTokens = try r.optionalInt("output_audio_tokens")
                    row.batch = try r.field("batch")?.bool()
                    row.serviceTier = try r.optionalString("service_tier")
                case .openAIEmbeddings, .openAIModerations:
                    u.inputTokens = try r.int("input_tokens")
                case .openAIImages:
                    row.units = try r.int("images")
                    row.unit = "images"
                case .openAIAudioSpeeches:
                    row.units = try r.int("characters")
                    row.unit = "characters"
                case .openAIAudioTranscriptions:
                    row.units = try r.int("seconds")
                    row.unit = "seconds"
                default:
                    throw MalformedReport(path: r.path, reason: "belongs to \(report.rawValue), which is not a usage report")
                }
                if let problem = u.boundsProblem {
                    throw MalformedReport(path: r.path, reason: "adds up to \(problem.field) \(problem.reason)")
                }
                row.usage = u
                return row
            }
        }
    }

    public static func openAICosts(_ json: JSONValue) throws(MalformedReport) -> ReportPage<ProviderCostRow> {
        try page(json) { (b: Reader) throws(MalformedReport) in
            try openAIBucket(b) { (r: Reader, start: Instant, end: Instant) throws(MalformedReport) in
                let amount = try r.require("amount")
                let currency = try amount.require("currency").string()
                guard currency.lowercased() == "usd" else { throw MalformedReport(path: amount.path + ".currency", reason: "is \(currency), not usd") }
                let value = try amount.require("value")
                // A JSON number (the documented form), read from its text; a decimal string is read the same way
                // (it is no less exact): refusing it failed the whole run and synced no cost at all.
                let text: String
                switch value.value {
                case .number(let n): text = n
                case .string(let s): text = s
                default: throw MalformedReport(path: value.path, reason: "is not a decimal amount")
                }
                let usd = try value.amount(text)
                var quantity: String?
                if case .number(let q)? = r.field("quantity")?.value { quantity = q }
                return ProviderCostRow(bucketStart: start, bucketEnd: end, projectRef: try r.optionalString("project_id"),
                                       apiKeyRef: try r.optionalString("api_key_id"), lineItem: try r.optionalString("line_item"),
                                       amount: usd, quantity: quantity, quantityUnit: try r.optionalString("quantity_unit"))
            }
        }
    }

    // MARK: Anthropic (RFC 3339 buckets)

    static func anthropicBucket<Row>(_ b: Reader, row: (Reader, Instant, Instant) throws(MalformedReport) -> Row)
        throws(MalformedReport) -> ProviderBucket<Row>
    {
        func instant(_ name: String) throws(MalformedReport) -> Instant {
            let r = try b.require(name)
            guard let i = Instant(rfc3339: try r.string()) else { throw MalformedReport(path: r.path, reason: "is not an RFC 3339 time") }
            return i
        }
        let start = try instant("starting_at"), end = try instant("ending_at")
        var rows: [Row] = []
        for r in try b.require("results").array() { rows.append(try row(r, start, end)) }
        return ProviderBucket(start: start, end: end, rows: rows)
    }

    public static func anthropicMessages(_ json: JSONValue) throws(MalformedReport) -> ReportPage<ProviderUsageRow> {
        try page(json) { (b: Reader) throws(MalformedReport) in
            try anthropicBucket(b) { (r: Reader, start: Instant, end: Instant) throws(MalformedReport) in
                let uncached = try r.int("uncached_input_tokens")
                let read = try r.int("cache_read_input_tokens")
                let creation = try r.require("cache_creation")
                let write5m = try creation.int("ephemeral_5m_input_tokens")
                let write1h = try creation.int("ephemeral_1h_input_tokens")
                var u = TokenUsage()
                // Anthropic's input excludes both cache kinds; Tally's input includes them.
                u.inputTokens = uncached + read + write5m + write1h
                u.cachedInputTokens = read
                u.cacheWriteInputTokens = write5m + write1h
                u.cacheWrite1hInputTokens = write1h
                u.outputTokens = try r.int("output_tokens")
                u.requests = 0  // the report does not count requests
                if let problem = u.boundsProblem {
                    throw MalformedReport(path: r.path, reason: "adds up to \(problem.field) \(problem.reason)")
                }
                let searches = try r.require("server_tool_use").int("web_search_requests")
                return ProviderUsageRow(bucketStart: start, bucketEnd: end, model: try r.optionalString("model"),
                                        projectRef: try r.optionalString("workspace_id"), apiKeyRef: try r.optionalString("api_key_id"),
                                        serviceTier: try r.optionalString("service_tier"), contextWindow: try r.optionalString("context_window"),
                                        usage: u, units: searches, unit: searches > 0 ? "web_search_requests" : nil)
            }
        }
    }

    public static func anthropicCosts(_ json: JSONValue) throws(MalformedReport) -> ReportPage<ProviderCostRow> {
        try page(json) { (b: Reader) throws(MalformedReport) in
            try anthropicBucket(b) { (r: Reader, start: Instant, end: Instant) throws(MalformedReport) in
                let currency = try r.require("currency").string()
                guard currency.uppercased() == "USD" else { throw MalformedReport(path: r.path + ".currency", reason: "is \(currency), not USD") }
                let amount = try r.require("amount")
                // A decimal string in cents: "123.45" is $1.2345.
                let usd = try amount.amount(try amount.string(), shift: 2)
                return ProviderCostRow(bucketStart: start, bucketEnd: end, projectRef: try r.optionalString("workspace_id"),
                                       lineItem: try r.optionalString("description"), model: try r.optionalString("model"),
                                       costType: try r.optionalString("cost_type"), tokenType: try r.optionalString("token_type"),
                                       serviceTier: try r.optionalString("service_tier"), amount: usd)
            }
        }
    }
}
