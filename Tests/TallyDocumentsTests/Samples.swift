import TallyCore

@testable import TallyDocuments

/// Statements and receipts built from fixed numbers: groups that add up to the totals exactly, daily costs that add
/// up to them too, names in Japanese and with emoji, and hostile names for the robustness tests.
enum Samples {
    static let zone = "Europe/Paris"
    static let november = CivilDate(year: 2026, month: 11, day: 1)

    static func day(_ month: Int, _ day: Int) -> CivilDate { CivilDate(year: 2026, month: month, day: day) }

    static func metrics(requests: Int64, input: Int64, output: Int64, cost: Int64) -> UsageMetrics {
        var m = UsageMetrics()
        m.requests = requests
        m.inputTokens = input
        m.outputTokens = output
        m.cachedInputTokens = input / 4
        m.cacheWriteInputTokens = input / 10
        m.errors = requests / 50
        m.unpricedRequests = requests / 97
        m.cost = USD(nanos: cost)
        return m
    }

    /// Named groups first, then `extra` numbered ones; costs chosen to hit the formatting's interesting cases
    /// (whole cents, sub-cent, more than six decimals).
    static func groups(extra: Int = 0, names: [String]? = nil) -> [StatementGroup] {
        let base: [(String?, String, Int64, Int64)] = [
            ("web", "web", 812_345_670_000, 700_000_000_000),
            ("経理チーム", "経理チーム", 233_100_000_000, 250_000_000_000),
            ("🚀 launch", "🚀 launch", 45_678_912_345, 0),
            ("search-api", "search-api", 1_230_000_000, 2_000_000_000),
            (nil, "no project", 123_000, 0),
        ]
        var groups = base.enumerated().map { index, entry in
            StatementGroup(
                key: entry.0, name: names?[safe: index] ?? entry.1,
                metrics: metrics(
                    requests: 10_000 / Int64(index + 1), input: 4_000_000 / Int64(index + 1),
                    output: 600_000 / Int64(index + 1), cost: entry.2),
                previousCost: USD(nanos: entry.3))
        }
        for index in 0..<extra {
            let cost = Int64(900_000_000 - index * 4_000_000) + Int64(index * 1_234)
            groups.append(
                StatementGroup(
                    key: "p\(index)", name: "project-\(index)",
                    metrics: metrics(
                        requests: Int64(100 + index), input: Int64(5_000 + index), output: 700, cost: cost),
                    previousCost: USD(nanos: cost / 2)))
        }
        return groups
    }

    static func statement(
        extraGroups: Int = 0, names: [String]? = nil, closed: Bool = true,
        providerBilled: USD? = USD(nanos: 1_100_500_000_000),
        budgets: [StatementBudget]? = nil
    ) -> Statement {
        let groups = groups(extra: extraGroups, names: names)
        var totals = UsageMetrics()
        for group in groups { totals += group.metrics }
        let daily = spread(totals.cost.nanos, over: (1...30).map { day(11, $0) })
        var previousTotals = metrics(requests: 9_000, input: 3_500_000, output: 500_000, cost: 0)
        previousTotals.cost = USD(nanos: groups.reduce(0) { $0 + $1.previousCost.nanos })
        let previousDaily = spread(previousTotals.cost.nanos, over: (1...31).map { day(10, $0) })
        let paris = TimeZoneRules(identifier: zone)!
        return Statement(
            organizationName: "Acme Research", timeZone: zone,
            period: StatementPeriod(
                kind: .month, label: "2026-11", firstDay: day(11, 1), lastDay: day(11, 30),
                range: TimeRange(from: paris.startOfDay(day(11, 1)), to: paris.startOfDay(day(12, 1)))),
            groupBy: "project", totals: totals, groups: groups, daily: daily,
            previous: StatementPrevious(
                label: "2026-10", firstDay: day(10, 1), lastDay: day(10, 31), totals: previousTotals,
                daily: previousDaily),
            budgets: budgets ?? [
                StatementBudget(
                    name: "Monthly cap", scope: "whole organization", period: "month 2026-11-01 – 2026-11-30",
                    amount: USD(nanos: 1_000_000_000_000), spent: totals.cost, status: "exceeded"),
                StatementBudget(
                    name: "Web team", scope: "project web", period: "month 2026-11-01 – 2026-11-30",
                    amount: USD(nanos: 900_000_000_000), spent: groups[0].metrics.cost, status: "warning"),
                StatementBudget(
                    name: "Search", scope: "project search-api", period: "week 2026-11-23 – 2026-11-29",
                    amount: USD(nanos: 50_000_000_000), spent: USD(nanos: 310_000_000), status: "ok"),
            ],
            providerBilled: providerBilled,
            closure: closed
                ? StatementClosure(
                    number: "ST-2026-11-0003", closedAt: Instant(rfc3339: "2026-12-01T08:30:00Z")!,
                    closedBy: "ana@example.com") : nil,
            generatedAt: Instant(rfc3339: "2026-12-01T08:30:05Z")!)
    }

    /// `total` over the days with a weekday rhythm, by largest remainder so the days add up to it exactly.
    static func spread(_ total: Int64, over days: [CivilDate]) -> [StatementDay] {
        let weights = days.map { Int64($0.isoWeekday >= 6 ? 3 : 8 + $0.day % 5) }
        let sum = weights.reduce(0, +)
        var parts = weights.map { total * $0 / sum }
        var left = total - parts.reduce(0, +)
        var index = 0
        while left > 0 {
            parts[index % parts.count] += 1
            left -= 1
            index += 1
        }
        return zip(days, parts).map { StatementDay(date: $0, cost: USD(nanos: $1)) }
    }

    static func receipt(priced: Bool = true, model: String = "claude-sonnet-4-5", project: String = "web") -> Receipt {
        let lines = [
            ReceiptLine(
                tokenClass: "input", label: "Input tokens", quantity: 12_480, unitPrice: "3",
                amount: USD(nanos: 37_440_000)),
            ReceiptLine(
                tokenClass: "cached_input", label: "Cached input tokens", quantity: 48_000, unitPrice: "0.3",
                amount: USD(nanos: 14_400_000)),
            ReceiptLine(
                tokenClass: "cache_write_5m", label: "Cache writes (5 minutes)", quantity: 2_048, unitPrice: "3.75",
                amount: USD(nanos: 7_680_000)),
            ReceiptLine(
                tokenClass: "output", label: "Output tokens", quantity: 1_536, unitPrice: "15",
                amount: USD(nanos: 23_040_000)),
            ReceiptLine(
                tokenClass: "request", label: "Requests", quantity: 1, unitPrice: "0.0125",
                amount: USD(nanos: 12_500_000)),
        ]
        let total = lines.reduce(USD.zero) { $0 + $1.amount }
        return Receipt(
            number: "R-7K2M9Q4X1B8D", organizationName: "Acme Research", projectName: project,
            eventID: "evt_01JH8Z3K7Q6W2N4V5X9Y", at: Instant(rfc3339: "2026-11-20T13:03:07.250Z")!, timeZone: zone,
            provider: "anthropic", model: model, modelResolved: priced ? "claude-sonnet-4-5-20250929" : nil,
            feature: "chat", user: "u_42", status: "ok", lines: priced ? lines : [],
            modifiers: priced ? ["Batch API: 50% off every token class", "Long context (over 200K input tokens)"] : [],
            priceEntry: priced
                ? ReceiptPriceEntry(id: "anthropic/claude-sonnet-4-5@2026-11-01", from: day(11, 1), source: "catalog")
                : nil,
            total: priced ? total : nil,
            unpricedReason: priced ? nil : "no price entry covers model acme-large-2 on 2026-11-20",
            issuedAt: Instant(rfc3339: "2026-11-20T13:05:00Z")!)
    }

    static let hostileNames = [
        "a\u{0}b\u{1}c\u{7}d\u{1B}[31mred\u{85}\u{9B}", String(repeating: "長い名前🚀", count: 2_000),
        "\u{202E}evil\u{202C} name", ")Tj ET BT (pwned) Tj \\ %%EOF", "=HYPERLINK(\"http://x\")",
    ]
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
