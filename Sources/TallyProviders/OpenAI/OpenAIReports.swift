import TallyCore

/// OpenAI's organization usage endpoints (one per kind of call) and its costs: Unix-second buckets, repeated array
/// parameters, the admin key as a bearer.
struct OpenAIReports: OrganizationReportsAPI {
    /// Grouped by model × project × key, one day can hold tens of thousands of rows (50 models × 20 projects × 20
    /// keys), so completions are read a day per page, which keeps a page to a few megabytes and the server's memory
    /// flat; the others a week per page, the provider's own default.
    func pageSize(_ report: ProviderReport) -> Int { report == .openAICompletions ? 1 : 7 }

    func groupBy(_ report: ProviderReport) -> [String] {
        switch report {
        case .openAICompletions: ["model", "project_id", "api_key_id", "batch", "service_tier"]
        case .openAICosts: ["project_id", "line_item"]
        default: ["model", "project_id", "api_key_id"]
        }
    }

    func path(_ report: ProviderReport) -> String {
        switch report {
        case .openAICompletions: "/v1/organization/usage/completions"
        case .openAIEmbeddings: "/v1/organization/usage/embeddings"
        case .openAIModerations: "/v1/organization/usage/moderations"
        case .openAIImages: "/v1/organization/usage/images"
        case .openAIAudioSpeeches: "/v1/organization/usage/audio_speeches"
        case .openAIAudioTranscriptions: "/v1/organization/usage/audio_transcriptions"
        default: "/v1/organization/costs"
        }
    }

    /// Unix seconds and repeated array parameters (`group_by=model&group_by=project_id`).
    func query(_ report: ProviderReport, from: Instant, to: Instant) -> [(String, String)] {
        [
            ("start_time", String(from.seconds)), ("end_time", String(to.seconds)), ("bucket_width", "1d"),
            ("limit", String(pageSize(report))),
        ] + groupBy(report).map { ("group_by", $0) }
    }

    func headers(key: String) -> [String: String] { ["Authorization": "Bearer \(key)"] }

    func decodeUsage(_ json: JSONValue, report: ProviderReport) throws(MalformedReport) -> ReportPage<ProviderUsageRow>
    {
        try ReportDecoding.openAIUsage(json, report: report)
    }

    func decodeCosts(_ json: JSONValue, report: ProviderReport) throws(MalformedReport) -> ReportPage<ProviderCostRow> {
        try ReportDecoding.openAICosts(json)
    }
}

extension ReportDecoding {
    static func openAIBucket<Row>(_ b: Reader, row: (Reader, Instant, Instant) throws(MalformedReport) -> Row)
        throws(MalformedReport) -> ProviderBucket<Row>
    {
        let start = try b.unixSeconds("start_time")
        let end = try b.unixSeconds("end_time")
        var rows: [Row] = []
        for r in try b.require("results").array() { rows.append(try row(r, start, end)) }
        return ProviderBucket(start: start, end: end, rows: rows)
    }

    public static func openAIUsage(_ json: JSONValue, report: ProviderReport) throws(MalformedReport) -> ReportPage<
        ProviderUsageRow
    > {
        try page(json) { (b: Reader) throws(MalformedReport) in
            try openAIBucket(b) { (r: Reader, start: Instant, end: Instant) throws(MalformedReport) in
                var row = ProviderUsageRow(
                    bucketStart: start, bucketEnd: end, model: try r.optionalString("model"),
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
                    // The July-2026 spec counts uncached audio in `input_audio_tokens` and cached audio in
                    // `input_cached_audio_tokens`; before it, `input_audio_tokens` included the cached audio and the
                    // second field did not exist. Their sum is all the audio either way, as Tally's count is; the
                    // cached part is known only from the newer field (older rows: 0, billed as audio).
                    let cachedAudio = try r.optionalInt("input_cached_audio_tokens")
                    u.inputAudioTokens = try r.optionalInt("input_audio_tokens") + cachedAudio
                    u.cachedInputAudioTokens = min(cachedAudio, u.cachedInputTokens)
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
                    throw MalformedReport(
                        path: r.path, reason: "belongs to \(report.rawValue), which is not a usage report")
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
                guard currency.lowercased() == "usd" else {
                    throw MalformedReport(path: amount.path + ".currency", reason: "is \(currency), not usd")
                }
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
                return ProviderCostRow(
                    bucketStart: start, bucketEnd: end, projectRef: try r.optionalString("project_id"),
                    apiKeyRef: try r.optionalString("api_key_id"), lineItem: try r.optionalString("line_item"),
                    amount: usd, quantity: quantity, quantityUnit: try r.optionalString("quantity_unit"))
            }
        }
    }
}
