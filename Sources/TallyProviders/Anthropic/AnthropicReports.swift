import TallyCore

/// Anthropic's messages usage report and cost report: RFC 3339 buckets, bracketed array parameters
/// (`group_by[]=`), the admin key in `x-api-key`.
struct AnthropicReports: OrganizationReportsAPI {
    /// Grouped by model × key × workspace (and costs by description), one day can hold tens of thousands of rows,
    /// so both reports are read a day per page, which keeps a page to a few megabytes and the server's memory flat.
    func pageSize(_ report: ProviderReport) -> Int { 1 }

    func groupBy(_ report: ProviderReport) -> [String] {
        report == .anthropicCosts
            ? ["workspace_id", "description"]
            : ["model", "api_key_id", "workspace_id", "service_tier", "context_window"]
    }

    func path(_ report: ProviderReport) -> String {
        report == .anthropicCosts ? "/v1/organizations/cost_report" : "/v1/organizations/usage_report/messages"
    }

    func query(_ report: ProviderReport, from: Instant, to: Instant) -> [(String, String)] {
        [
            ("starting_at", from.rfc3339), ("ending_at", to.rfc3339), ("bucket_width", "1d"),
            ("limit", String(pageSize(report))),
        ] + groupBy(report).map { ("group_by[]", $0) }
    }

    func headers(key: String) -> [String: String] { ["x-api-key": key, "anthropic-version": AnthropicAPI.version] }

    func decodeUsage(_ json: JSONValue, report: ProviderReport) throws(MalformedReport) -> ReportPage<ProviderUsageRow>
    {
        try ReportDecoding.anthropicMessages(json)
    }

    func decodeCosts(_ json: JSONValue, report: ProviderReport) throws(MalformedReport) -> ReportPage<ProviderCostRow> {
        try ReportDecoding.anthropicCosts(json)
    }
}

extension ReportDecoding {
    static func anthropicBucket<Row>(_ b: Reader, row: (Reader, Instant, Instant) throws(MalformedReport) -> Row)
        throws(MalformedReport) -> ProviderBucket<Row>
    {
        func instant(_ name: String) throws(MalformedReport) -> Instant {
            let r = try b.require(name)
            guard let i = Instant(rfc3339: try r.string()) else {
                throw MalformedReport(path: r.path, reason: "is not an RFC 3339 time")
            }
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
                return ProviderUsageRow(
                    bucketStart: start, bucketEnd: end, model: try r.optionalString("model"),
                    projectRef: try r.optionalString("workspace_id"), apiKeyRef: try r.optionalString("api_key_id"),
                    serviceTier: try r.optionalString("service_tier"),
                    contextWindow: try r.optionalString("context_window"),
                    usage: u, units: searches, unit: searches > 0 ? "web_search_requests" : nil)
            }
        }
    }

    public static func anthropicCosts(_ json: JSONValue) throws(MalformedReport) -> ReportPage<ProviderCostRow> {
        try page(json) { (b: Reader) throws(MalformedReport) in
            try anthropicBucket(b) { (r: Reader, start: Instant, end: Instant) throws(MalformedReport) in
                let currency = try r.require("currency").string()
                guard currency.uppercased() == "USD" else {
                    throw MalformedReport(path: r.path + ".currency", reason: "is \(currency), not USD")
                }
                let amount = try r.require("amount")
                // A decimal string in cents: "123.45" is $1.2345.
                let usd = try amount.amount(try amount.string(), shift: 2)
                return ProviderCostRow(
                    bucketStart: start, bucketEnd: end, projectRef: try r.optionalString("workspace_id"),
                    lineItem: try r.optionalString("description"), model: try r.optionalString("model"),
                    costType: try r.optionalString("cost_type"), tokenType: try r.optionalString("token_type"),
                    serviceTier: try r.optionalString("service_tier"), amount: usd)
            }
        }
    }
}
