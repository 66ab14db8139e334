import Crypto
import TallyCore

/// Finds an organization's insights in its usage windows (issue 18): pure and deterministic, the same input gives the
/// same findings in the same order (sorted by key).
public enum InsightEngine {
    public static func findings(
        _ input: InsightInput, settings: InsightSettings, pricing: some InsightPricing
    ) -> [InsightFinding] {
        var found = concentration(input, settings)
        found += growth(input, settings)
        found += featureSpikes(input, settings)
        found += expensiveModels(input, settings, pricing)
        found += lowCacheUse(input, settings, pricing)
        found += errorSpend(input, settings)
        found += batchCandidates(input, settings)
        found += truncatedAnswers(input)
        return found.sorted { $0.key < $1.key }
    }

    /// The same finding gets the same id on every replica and every day: a hash of the organization and the key.
    public static func id(organizationID: String, key: String) -> String {
        let digest = SHA256.hash(data: Array("\(organizationID)\n\(key)".utf8))
        return "in_" + digest.prefix(12).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// The dimensions insights look at, as the rows hold them.
    enum Scope: String, CaseIterable {
        case provider, model, project, feature

        func value(_ row: InsightUsageRow) -> String? {
            switch self {
            case .provider: row.provider
            case .model: row.model
            case .project: row.projectID
            case .feature: row.feature
            }
        }

        /// How a sentence names a value ("project Support" by its name, not its id).
        func name(_ value: String, _ input: InsightInput) -> String {
            switch self {
            case .project: "project \(input.projectNames[value] ?? value)"
            case .feature: "feature \(value)"
            default: "\(rawValue) \(value)"
            }
        }

        /// The explorer's filter for a value (projects by name).
        func filter(_ value: String, _ input: InsightInput) -> (String, String) {
            (rawValue, self == .project ? input.projectNames[value] ?? value : value)
        }
    }

    /// Cost per value of a scope (rows without a value, such as events with no feature, left out).
    static func costs(_ rows: [InsightUsageRow], by scope: Scope) -> [String: USD] {
        var sums: [String: USD] = [:]
        for row in rows {
            guard let value = scope.value(row) else { continue }
            sums[value, default: .zero] += row.metrics.cost
        }
        return sums
    }

    static func total(_ rows: [InsightUsageRow]) -> USD { rows.reduce(.zero) { $0 + $1.metrics.cost } }

    /// `/usage?…` showing `[from, to)` (the explorer's `to` is the last day shown).
    static func explorer(
        groupBy: String, from: CivilDate, to: CivilDate, filters: [(String, String)] = [], grain: String? = nil
    ) -> String {
        var items = [("group_by", groupBy)]
        if let grain { items.append(("grain", grain)) }
        items += [("preset", "custom"), ("from", from.description), ("to", to.addingDays(-1).description)]
        items += filters
        return "/usage?" + items.map { "\($0.0)=\(AlertText.percentEncoded($0.1))" }.joined(separator: "&")
    }

    // MARK: concentration

    static func concentration(_ input: InsightInput, _ settings: InsightSettings) -> [InsightFinding] {
        let total = total(input.last30)
        guard total >= settings.floor, total > .zero else { return [] }
        let from = input.windowStart(days: 30)
        var found: [InsightFinding] = []
        for scope in Scope.allCases {
            let sums = costs(input.last30, by: scope)
            // One provider is a dependency worth knowing; one project or feature is nothing to concentrate among.
            guard scope == .provider || sums.count >= 2 else { continue }
            guard let top = sums.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }),
                InsightText.exceeds(top.value.nanos, percent: settings.concentrationPercent, of: total.nanos)
            else { continue }
            let share = InsightText.percent(top.value.nanos, of: total.nanos)
            let name = scope.name(top.key, input)
            found.append(
                InsightFinding(
                    kind: .concentration, key: "concentration:\(scope.rawValue):\(top.key)",
                    title:
                        "\(share)% of the last 30 days' cost came from one \(scope.rawValue), \(scope == .project ? input.projectNames[top.key] ?? top.key : top.key) (\(InsightText.usd(top.value)) of \(InsightText.usd(total)))",
                    detail:
                        "Over the 30 days from \(from) to \(input.today.addingDays(-1)), \(name) accounted for \(share)% of all spend. A price change, an outage or a quota at one \(scope.rawValue) would move most of the bill; consider whether an alternative is worth keeping ready.",
                    evidence: [
                        InsightFigure("dimension", .text(scope.rawValue)),
                        InsightFigure("value", .text(scope.filter(top.key, input).1)),
                        InsightFigure("cost_usd", .usd(top.value)), InsightFigure("total_cost_usd", .usd(total)),
                        InsightFigure("share_percent", .percent(share)),
                        InsightFigure("from", .text(from.description)),
                        InsightFigure("to", .text(input.today.addingDays(-1).description)),
                    ], estimatedMonthlySavings: nil,
                    explorerURL: explorer(groupBy: scope.rawValue, from: from, to: input.today)))
        }
        return found
    }

    // MARK: growth

    static func growth(_ input: InsightInput, _ settings: InsightSettings) -> [InsightFinding] {
        var found: [InsightFinding] = []
        for (period, days, now, before) in [
            ("month", 30, input.last30, input.previous30), ("week", 7, input.last7, input.previous7),
        ] {
            let label = period == "month" ? "month over month" : "week over week"
            let from = input.windowStart(days: days, back: 1)
            var scopes: [(Scope?, String, USD, USD)] = [(nil, "", total(now), total(before))]
            for scope in [Scope.provider, .model, .project] {
                let current = costs(now, by: scope), previous = costs(before, by: scope)
                for (value, cost) in current { scopes.append((scope, value, cost, previous[value] ?? .zero)) }
            }
            for (scope, value, current, previous) in scopes {
                guard previous > .zero, current >= settings.floor,
                    InsightText.exceeds((current - previous).nanos, percent: settings.growthPercent, of: previous.nanos)
                else { continue }
                let growth = InsightText.growth(current.nanos, from: previous.nanos)
                let subject = scope.map { "Spend on \($0.name(value, input))" } ?? "Total spend"
                var evidence = [
                    InsightFigure("period", .text(period)),
                    InsightFigure("cost_usd", .usd(current)), InsightFigure("previous_cost_usd", .usd(previous)),
                    InsightFigure("growth_percent", .percent(growth)),
                ]
                if let scope {
                    evidence.insert(InsightFigure("value", .text(scope.filter(value, input).1)), at: 0)
                    evidence.insert(InsightFigure("dimension", .text(scope.rawValue)), at: 0)
                }
                found.append(
                    InsightFinding(
                        kind: .growth,
                        key: "growth:\(period)" + (scope.map { ":\($0.rawValue):\(value)" } ?? ":total"),
                        title:
                            "\(subject) grew \(growth)% \(label) (\(InsightText.usd(current)) vs \(InsightText.usd(previous)))",
                        detail:
                            "\(subject) was \(InsightText.usd(current)) in the last \(days) days against \(InsightText.usd(previous)) in the \(days) days before, up \(growth)%. If the growth is not planned, the explorer shows which days and which \(scope == .model ? "features" : "models") drove it.",
                        evidence: evidence, estimatedMonthlySavings: nil,
                        explorerURL: explorer(
                            groupBy: scope == .model ? "feature" : "model", from: from, to: input.today,
                            filters: scope.map { [$0.filter(value, input)] } ?? [], grain: days == 7 ? nil : "week")))
            }
        }
        return found
    }

    // MARK: feature_spike

    static func featureSpikes(_ input: InsightInput, _ settings: InsightSettings) -> [InsightFinding] {
        let current = costs(input.last30, by: .feature), previous = costs(input.previous30, by: .feature)
        let top = Set(
            current.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(5).map(\.key))
        let from = input.windowStart(days: 30, back: 1)
        var found: [InsightFinding] = []
        for (feature, cost) in current where cost >= settings.floor {
            let before = previous[feature] ?? .zero
            let title: String
            var evidence = [
                InsightFigure("feature", .text(feature)), InsightFigure("cost_usd", .usd(cost)),
                InsightFigure("previous_cost_usd", .usd(before)),
            ]
            if before > .zero {
                guard
                    InsightText.exceeds((cost - before).nanos, percent: settings.featureSpikePercent, of: before.nanos)
                else { continue }
                let growth = InsightText.growth(cost.nanos, from: before.nanos)
                evidence.append(InsightFigure("growth_percent", .percent(growth)))
                title =
                    "Feature \(feature) spent \(growth)% more than the 30 days before (\(InsightText.usd(cost)) vs \(InsightText.usd(before)))"
            } else {
                guard top.contains(feature) else { continue }
                evidence.append(InsightFigure("new", .text("true")))
                title =
                    "New feature \(feature) is already among the top 5 costs (\(InsightText.usd(cost)) in the last 30 days)"
            }
            found.append(
                InsightFinding(
                    kind: .featureSpike, key: "feature_spike:\(feature)", title: title,
                    detail:
                        "Feature \(feature) cost \(InsightText.usd(cost)) over the last 30 days and \(InsightText.usd(before)) over the 30 days before. Check that the change is expected (a launch, more users) and not a loop or a retry storm.",
                    evidence: evidence, estimatedMonthlySavings: nil,
                    explorerURL: explorer(
                        groupBy: "model", from: from, to: input.today, filters: [("feature", feature)], grain: "week")))
        }
        return found
    }

    // MARK: error_spend

    static func errorSpend(_ input: InsightInput, _ settings: InsightSettings) -> [InsightFinding] {
        var failed = UsageMetrics()
        for row in input.last30 where row.failed { failed += row.metrics }
        let total = total(input.last30)
        guard failed.cost >= settings.floor, failed.cost > .zero else { return [] }
        let share = InsightText.percent(failed.cost.nanos, of: total.nanos)
        let from = input.windowStart(days: 30)
        return [
            InsightFinding(
                kind: .errorSpend, key: "error_spend",
                title:
                    "\(InsightText.usd(failed.cost)) of the last 30 days' cost went to failed requests (\(share)% of \(InsightText.usd(total)))",
                detail:
                    "\(InsightText.count(failed.requests)) requests ended in an error over the last 30 days but were still billed. Fixing the most frequent errors, or retrying less, saves this money.",
                evidence: [
                    InsightFigure("failed_requests", .count(failed.requests)),
                    InsightFigure("error_cost_usd", .usd(failed.cost)), InsightFigure("total_cost_usd", .usd(total)),
                    InsightFigure("share_percent", .percent(share)),
                ], estimatedMonthlySavings: failed.cost,
                explorerURL: explorer(groupBy: "model", from: from, to: input.today, filters: [("status", "error")]))
        ]
    }

    // MARK: truncated_answers

    /// A feature with at least this many gateway answers in 7 days, of which at least `truncatedShare` percent were
    /// cut by the output limit, gets an insight: the answers its users saw were incomplete.
    public static let truncatedMinimumAnswers: Int64 = 20
    public static let truncatedShare: Int64 = 10

    static func truncatedAnswers(_ input: InsightInput) -> [InsightFinding] {
        let counts = input.answerFlags7
        let from = input.windowStart(days: 7)
        return counts.flags.filter { $0.kind == "quality" && $0.flag == "truncated" && $0.feature != nil }
            .compactMap { count in
                let feature = count.feature ?? ""
                let answers = counts.requests[feature] ?? 0
                guard answers >= truncatedMinimumAnswers, count.requests * 100 >= answers * truncatedShare else {
                    return nil
                }
                let share = InsightText.percent(count.requests, of: answers)
                return InsightFinding(
                    kind: .truncatedAnswers, key: "truncated_answers:\(feature)",
                    title: "\(share)% of feature \(feature)'s answers were truncated",
                    detail:
                        "\(InsightText.count(count.requests)) of \(InsightText.count(answers)) answers through the gateway in the last 7 days stopped at the output limit (max_tokens). Raise the limit, or ask for shorter answers: a cut answer was paid for and may be useless.",
                    evidence: [
                        InsightFigure("truncated_requests", .count(count.requests)),
                        InsightFigure("requests", .count(answers)), InsightFigure("share_percent", .percent(share)),
                        InsightFigure("truncated_cost_usd", .usd(count.cost)),
                    ], estimatedMonthlySavings: nil,
                    explorerURL:
                        "/events?feature=\(AlertText.percentEncoded(feature))&flag=truncated&from=\(from)&to=\(input.today)"
                )
            }
    }

    // MARK: batch_candidate

    /// Local days with spend, out of 30, from which a batch-able feature's volume counts as steady.
    public static let steadyDays = 20

    static func batchCandidates(_ input: InsightInput, _ settings: InsightSettings) -> [InsightFinding] {
        let costs = costs(input.last30, by: .feature)
        let from = input.windowStart(days: 30)
        return settings.batchFeatures.compactMap { feature in
            guard let cost = costs[feature], cost >= settings.floor, cost > .zero,
                let days = input.activeDays[feature], days >= steadyDays
            else { return nil }
            let saving = USD(nanos: cost.nanos / 2)
            return InsightFinding(
                kind: .batchCandidate, key: "batch_candidate:\(feature)",
                title:
                    "Feature \(feature) could use the batch API and save about \(InsightText.usd(saving)) a month",
                detail:
                    "Feature \(feature) is marked as able to wait for its answers and spent \(InsightText.usd(cost)) over the last 30 days, on \(days) of the 30 days. The providers' batch APIs charge half price for requests answered within a day.",
                evidence: [
                    InsightFigure("feature", .text(feature)), InsightFigure("cost_usd", .usd(cost)),
                    InsightFigure("active_days", .count(Int64(days))),
                ], estimatedMonthlySavings: saving,
                explorerURL: explorer(groupBy: "model", from: from, to: input.today, filters: [("feature", feature)]))
        }
    }
}
