import TallyCore

/// Prices a token profile for the insight engine, so that the engine stays pure (the service answers from the
/// price catalog in force and the organization's own prices).
public protocol InsightPricing: Sendable {
    /// What `usage` (a sum of requests and tokens) would cost on `model` of `provider` at today's prices; nil when
    /// no price covers it.
    func cost(provider: String, model: String, usage: UsageMetrics) -> USD?
    /// The models of `provider` a cheaper alternative may be: priced today with both an input and an output rate
    /// (so embeddings and other models that write no text are not offered), in a stable order.
    func models(provider: String) -> [String]
}

/// One row of a window's usage, grouped by provider, model, project, feature and status (the main rollup has all
/// five, so this is never a scan of raw events).
public struct InsightUsageRow: Sendable, Equatable {
    public var provider: String
    public var model: String
    public var projectID: String
    public var feature: String?
    public var failed: Bool
    public var metrics: UsageMetrics

    public init(
        provider: String, model: String, projectID: String, feature: String?, failed: Bool, metrics: UsageMetrics
    ) {
        self.provider = provider
        self.model = model
        self.projectID = projectID
        self.feature = feature
        self.failed = failed
        self.metrics = metrics
    }
}

/// What the engine reads: four windows of whole local days ending at the start of `today` (so any run on the same
/// day sees the same figures), the project names, and how steady each batch-able feature is.
public struct InsightInput: Sendable {
    /// The first day not looked at.
    public var today: CivilDate
    public var last30: [InsightUsageRow]
    public var previous30: [InsightUsageRow]
    public var last7: [InsightUsageRow]
    public var previous7: [InsightUsageRow]
    /// For each batch-able feature, the local days among the last 30 with spend.
    public var activeDays: [String: Int]
    public var projectNames: [String: String]
    /// The gateway's answers of the last 7 days, flags counted per feature (the truncation insight).
    public var answerFlags7 = FlagCounts(flags: [], requests: [:])

    public init(
        today: CivilDate, last30: [InsightUsageRow], previous30: [InsightUsageRow], last7: [InsightUsageRow],
        previous7: [InsightUsageRow], activeDays: [String: Int], projectNames: [String: String]
    ) {
        self.today = today
        self.last30 = last30
        self.previous30 = previous30
        self.last7 = last7
        self.previous7 = previous7
        self.activeDays = activeDays
        self.projectNames = projectNames
    }

    /// The first local day of the window of `days` days ending before `today`, `back` windows earlier.
    public func windowStart(days: Int, back: Int = 0) -> CivilDate { today.addingDays(Int64(-days * (back + 1))) }
}

/// Plain-language figures for finance readers: grouped dollars, counts and one-decimal percentages.
public enum InsightText {
    /// "$1,240.00" (at least two decimals, exact beyond).
    public static func usd(_ amount: USD) -> String {
        let decimal = AlertText.decimal(amount)
        let negative = decimal.hasPrefix("-")
        let digits = negative ? String(decimal.dropFirst()) : decimal
        let whole = digits.split(separator: ".", maxSplits: 1)
        return (negative ? "-$" : "$") + grouped(String(whole[0])) + (whole.count > 1 ? "." + whole[1] : "")
    }

    public static func count(_ n: Int64) -> String {
        n < 0 ? "-" + grouped(String(-n)) : grouped(String(n))
    }

    private static func grouped(_ digits: String) -> String {
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return out
    }

    /// `part / whole` as a percentage with one decimal, rounded half up ("62.0"); exact in 128 bits.
    public static func percent(_ part: Int64, of whole: Int64) -> String {
        guard whole > 0 else { return "0.0" }
        let tenths = (Int128(part) * 2000 + Int128(whole)) / (Int128(whole) * 2)
        return "\(tenths / 10).\(tenths % 10 < 0 ? -(tenths % 10) : tenths % 10)"
    }

    /// Growth from `before` to `now` as a percentage with one decimal.
    public static func growth(_ now: Int64, from before: Int64) -> String { percent(now - before, of: before) }

    /// Whether `part` is more than `percent`% of `whole` (exact).
    public static func exceeds(_ part: Int64, percent: Int, of whole: Int64) -> Bool {
        Int128(part) * 100 > Int128(percent) * Int128(whole)
    }
}
