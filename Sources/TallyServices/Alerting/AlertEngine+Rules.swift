import Logging
import TallyCore

/// The rules other than budgets: `spike`, `unpriced_model`, `provider_connection`.
extension AlertEngine {
    /// The dimensions a spike is watched for, besides the whole organization.
    static var spikeDimensions: [UsageDimension] { [.project, .feature, .apiKey] }

    /// The 7 local days before today and today so far, `[from, today)` and `[today, to)`; `to` is the end of the
    /// current hour, so every range edge is on the hour (in whole-hour zones) and the summary reads rollups only.
    static func spikeWindow(_ context: RuleContext) -> (from: Instant, today: Instant, to: Instant, day: CivilDate) {
        let day = context.zone.localDate(of: context.now)
        let today = context.zone.startOfDay(day)
        let hour = Instant.microsecondsPerHour
        let to = Instant(microseconds: (floorDiv(context.now.microseconds, hour) + 1) * hour)
        return (context.zone.startOfDay(day.addingDays(-7)), today, to, day)
    }

    /// At most this many new alerts of `spike`, `unpriced_model` and `anomaly` per organization and evaluation: their
    /// scopes are ingested values (feature names, API keys, models), so an ingest key inventing thousands of them
    /// must not mail or post thousands of alerts at once.
    static var newAlertsPerRule: Int { 20 }

    /// The candidates not yet fired, past the cap per rule dropped: the rules list the largest first, and those held
    /// back fire in later evaluations as the cap allows, their condition being still true.
    func capped(_ fresh: [Candidate], organizationID: String) -> [Candidate] {
        var counts: [AlertType: Int] = [:]
        let kept = fresh.filter { candidate in
            let type = candidate.alert.type
            guard type == .spike || type == .unpricedModel || type == .anomaly else { return true }
            counts[type, default: 0] += 1
            return counts[type, default: 0] <= Self.newAlertsPerRule
        }
        for (type, count) in counts.sorted(by: { $0.key.rawValue < $1.key.rawValue })
        where count > Self.newAlertsPerRule {
            logger.warning(
                "alerts held back for a later evaluation",
                metadata: [
                    "organization": "\(organizationID)", "rule": "\(type.rawValue)",
                    "held_back": "\(count - Self.newAlertsPerRule)",
                ])
        }
        return kept
    }

    // MARK: spike

    /// For the organization and each project, feature and API key: fires when today's spend exceeds the 7 previous
    /// days' daily average by more than `threshold_percent` and by more than the floor; at most one per scope per
    /// 24 h (one key per scope and local day, and none when the scope's alert of the day before is under 24 h old).
    /// A scope with no spend in the 7 days has an average of zero: its first day above the floor is a spike.
    func spikeCandidates(_ context: RuleContext) async throws -> [Candidate] {
        let window = Self.spikeWindow(context)
        var candidates: [(Candidate, yesterdayKey: String)] = []
        var organizationTotals: (week: USD, today: USD)?
        for dimension in Self.spikeDimensions {
            let week: (byValue: [String: USD], total: USD)
            let today: (byValue: [String: USD], total: USD)
            do {
                week = try await spend(context, dimension, from: window.from, to: window.today)
                today = try await spend(context, dimension, from: window.today, to: window.to)
            } catch TallyError.tooManyGroups(let limit) {
                // Ingested values (feature names, keys) past the summary's limit: this dimension is not watched, the
                // others and the organization's total still are.
                logger.warning(
                    "spike rule skips a dimension with too many values",
                    metadata: [
                        "organization": "\(context.organization.id)", "dimension": "\(dimension.rawValue)",
                        "limit": "\(limit)",
                    ])
                continue
            }
            if organizationTotals == nil { organizationTotals = (week.total, today.total) }
            // Projects are grouped by id; a person reads their names.
            let names =
                dimension == .project && !today.byValue.isEmpty
                ? Dictionary(
                    try await store.projects(organizationID: context.organization.id).map { ($0.id, $0.name) },
                    uniquingKeysWith: { a, _ in a }) : [:]
            for (value, spent) in today.byValue.sorted(by: { $0.key < $1.key }) {
                if let c = spike(
                    context, window: window, scope: (dimension.rawValue, value), shownAs: names[value], today: spent,
                    week: week.byValue[value] ?? .zero)
                {
                    candidates.append(c)
                }
            }
        }
        if let totals = organizationTotals,
            let c = spike(context, window: window, scope: nil, today: totals.today, week: totals.week)
        {
            candidates.insert(c, at: 0)
        }
        guard !candidates.isEmpty else { return [] }
        // A scope's alert of yesterday that is under 24 h old holds today's back.
        let yesterday = try await store.firedAlerts(
            organizationID: context.organization.id, keys: candidates.map(\.yesterdayKey))
        let dayAgo = context.now.adding(seconds: -86_400)
        // The largest spend first (the organization's total among them), for the cap on new alerts.
        return candidates.filter { c in yesterday[c.yesterdayKey].map { $0 <= dayAgo } ?? true }.map(\.0)
            .sorted { a, b in
                let (x, y) = (a.alert.figures.spent ?? .zero, b.alert.figures.spent ?? .zero)
                return x != y ? x > y : a.alert.dedupeKey < b.alert.dedupeKey
            }
    }

    /// The spend per value of a dimension (values the events lack are left out) and in all, over `[from, to)`.
    private func spend(_ context: RuleContext, _ dimension: UsageDimension, from: Instant, to: Instant)
        async throws -> (byValue: [String: USD], total: USD)
    {
        let result = try await store.summary(
            SummaryQuery(
                organizationID: context.organization.id, from: from, to: to, timeZone: context.zone, grain: nil,
                dimensions: [dimension], filters: [:]))
        var byValue: [String: USD] = [:]
        for group in result.groups {
            guard let value = group.values[dimension] ?? nil, !value.isEmpty else { continue }
            byValue[value, default: .zero] += group.metrics.cost
        }
        return (byValue, result.totals.cost)
    }

    /// The spike alert of one scope (nil: the organization), if today's spend is one. Compared exactly:
    /// today > week/7 × (1 + p/100) ⇔ today × 700 > week × (100 + p), and today − week/7 > floor ⇔
    /// today × 7 − week > floor × 7.
    private func spike(
        _ context: RuleContext, window: (from: Instant, today: Instant, to: Instant, day: CivilDate),
        scope: (dimension: String, value: String)?, shownAs: String? = nil, today: USD, week: USD
    ) -> (Candidate, yesterdayKey: String)? {
        let percent = context.rules.spike.thresholdPercent
        let (t, w, floor) = (Int128(today.nanos), Int128(week.nanos), Int128(context.rules.spike.floor.nanos))
        guard t * 700 > w * Int128(100 + percent), t * 7 - w > floor * 7 else { return nil }
        let average = USD(nanos: week.nanos / 7)
        let (dimension, value) = scope ?? ("organization", "")
        let name = scope.map { "\($0.dimension) '\(shownAs ?? $0.value)'" } ?? "the organization"
        let figures = AlertFigures(
            periodStart: window.today, periodEnd: context.zone.startOfDay(window.day.addingDays(1)), spent: today,
            amount: average, percent: AlertText.percent(today, of: average), threshold: percent,
            summary:
                "Spend of \(name) today is \(AlertText.usd(today)), more than \(percent)% above its 7-day daily average of \(AlertText.usd(average))"
        )
        let key = { (day: CivilDate) in "spike:\(dimension):\(value):\(day)" }
        var usageScope: BudgetScope = [:]
        if let scope, let d = UsageDimension(rawValue: scope.dimension) { usageScope[d] = [scope.value] }
        return (
            context.alert(.spike, rule: "spike", key: key(window.day), scope: usageScope, figures: figures),
            key(window.day.addingDays(-1))
        )
    }

    // MARK: unpriced_model

    /// A (provider, model) with unpriced requests in the last 8 local days fires once, ever: the counts come from
    /// the rollups' `unpriced_requests`, as the overview's card does.
    func unpricedCandidates(_ context: RuleContext) async throws -> [Candidate] {
        let window = Self.spikeWindow(context)
        let result = try await store.summary(
            SummaryQuery(
                organizationID: context.organization.id, from: window.from, to: window.to, timeZone: context.zone,
                grain: nil, dimensions: [.provider, .model], filters: [:]))
        // The most unpriced requests first, then by name, for the cap on new alerts.
        func name(_ group: SummaryGroup) -> [String] {
            [.provider, .model].map { group.values[$0].flatMap { $0 } ?? "" }
        }
        let groups = result.groups.sorted { a, b in
            let (x, y) = (a.metrics.unpricedRequests, b.metrics.unpricedRequests)
            return x != y ? x > y : name(a).lexicographicallyPrecedes(name(b))
        }
        return groups.compactMap { group in
            guard group.metrics.unpricedRequests > 0, let provider = group.values[.provider] ?? nil,
                let model = group.values[.model] ?? nil
            else { return nil }
            return context.alert(
                .unpricedModel, rule: "unpriced_model", key: "unpriced:\(provider):\(model)",
                scope: [.provider: [provider], .model: [model]],
                figures: AlertFigures(
                    periodStart: window.from, periodEnd: window.to,
                    summary:
                        "Model '\(model)' of \(provider) has no price: \(group.metrics.unpricedRequests) requests in the last 8 days are unpriced"
                ))
        }
    }

    // MARK: provider_connection

    /// How many sync runs of a connection are read to find its current streak of failures.
    static var syncRunsRead: Int { 200 }

    /// A connection whose sync failed 3 runs in a row, or that needs a new admin key, fires once until it recovers:
    /// while one of its alerts is open or acknowledged it fires nothing (the resolver turns it `resolved` when the
    /// connection recovers). The key names the streak's first failed run read ("connection:<id>:<run id>"), or for a
    /// refused admin key the newest run that succeeded before it ("connection:<id>:key:<run id or none>"), so a later
    /// streak or refusal after a recovery fires again.
    func connectionCandidates(_ context: RuleContext) async throws -> [Candidate] {
        let pending = try await unresolvedConnectionAlerts(context)
        var candidates: [Candidate] = []
        for connection in try await store.connections(organizationID: context.organization.id) {
            let prefix = "connection:\(connection.id):"
            if pending.contains(where: { $0.dedupeKey.hasPrefix(prefix) }) { continue }
            let runs = try await store.syncRuns(
                organizationID: context.organization.id, connectionID: connection.id, limit: Self.syncRunsRead)
            // The failed runs the newest finished ones start with, newest first.
            let streak = Array(runs.drop { $0.status == .running }.prefix { $0.status == .failed })
            let keyRejected: String?
            if case .adminKeyRejected(let message) = connection.health {
                keyRejected = message
            } else {
                keyRejected = nil
            }
            guard streak.count >= 3 || keyRejected != nil else { continue }
            let lastSuccess = runs.first { $0.status == .succeeded }?.id ?? "none"
            let key = streak.last.map { prefix + $0.id } ?? prefix + "key:" + lastSuccess
            let reason =
                keyRejected.map { "needs a new admin key: \($0)" }
                ?? "its sync failed \(streak.count) runs in a row: \(streak.first?.error ?? "no message")"
            candidates.append(
                context.alert(
                    .providerConnection, rule: "provider_connection", key: key,
                    scope: [.provider: [connection.provider.rawValue]],
                    figures: AlertFigures(
                        summary: "Provider connection '\(connection.name)' (\(connection.provider.rawValue)) \(reason)"
                    )))
        }
        return candidates
    }

    /// The organization's `provider_connection` alerts not yet resolved (open or acknowledged).
    private func unresolvedConnectionAlerts(_ context: RuleContext) async throws -> [Alert] {
        var alerts: [Alert] = []
        for status in [AlertStatus.open, .acknowledged] {
            alerts += try await store.alerts(
                AlertQuery(
                    organizationID: context.organization.id, type: .providerConnection, status: status, limit: 500))
        }
        return alerts
    }

    /// Open or acknowledged `provider_connection` alerts whose connection recovered (its newest finished run
    /// succeeded and its keys are not refused) or was deleted turn `resolved`.
    func resolveRecoveredConnections(_ context: RuleContext) async throws {
        let open = try await unresolvedConnectionAlerts(context)
        guard !open.isEmpty else { return }
        let connections = Dictionary(
            try await store.connections(organizationID: context.organization.id).map { ($0.id, $0) },
            uniquingKeysWith: { a, _ in a })
        for alert in open {
            let parts = alert.dedupeKey.split(separator: ":", maxSplits: 2)
            guard parts.count == 3 else { continue }
            if let connection = connections[String(parts[1])] {
                if case .adminKeyRejected = connection.health { continue }
                let runs = try await store.syncRuns(
                    organizationID: context.organization.id, connectionID: connection.id, limit: 5)
                guard runs.first(where: { $0.status != .running })?.status == .succeeded else { continue }
            }
            try await store.updateAlertStatus(
                organizationID: context.organization.id, id: alert.id, status: .resolved, by: nil, at: context.now,
                audit: nil)
            logger.info("alert resolved", metadata: ["alert": "\(alert.id)", "key": "\(alert.dedupeKey)"])
        }
    }
}
