import Logging
import TallyCore
import TallyForecast

/// The rules of issue 18: `forecast_overrun` and `anomaly`, over the engine's `ForecastSource`.
extension AlertEngine {
    // MARK: forecast_overrun

    /// An enabled budget whose period-end p50 exceeds its amount fires once per period, to the budget's channels.
    /// When the forecast falls back under, its open (or acknowledged) alert turns `resolved`, which re-arms it: the
    /// next overrun in the period takes the next counter ("forecast:<budget>:<first local day>:<n>", see
    /// `Alert.dedupeKey`). A dry run resolves nothing.
    func overrunCandidates(
        _ budgets: [Budget], _ forecasts: any ForecastSource, _ context: RuleContext, dryRun: Bool
    ) async throws -> [Candidate] {
        let (now, zone) = (context.now, context.zone)
        let live = budgets.filter { $0.enabled && $0.amount > .zero && !($0.mutedUntil.map { now < $0 } ?? false) }
        guard !live.isEmpty else { return [] }
        let earlier = try await store.alerts(
            AlertQuery(organizationID: context.organization.id, type: .forecastOverrun, limit: 500))
        var candidates: [Candidate] = []
        for budget in live {
            guard
                let period = budget.period(
                    containing: now, zone: zone, billingCycleDay: context.organization.billingCycleDay)
            else { continue }
            let answer: ForecastAnswer
            do {
                answer = try await forecasts.forecast(
                    ForecastRequest(
                        organizationID: budget.organizationID, horizon: 1, budgetID: budget.id, now: now))
            } catch {
                logger.error("budget forecast failed", metadata: ["budget": "\(budget.id)", "error": "\(error)"])
                continue
            }
            let prefix = "forecast:\(budget.id):\(period.firstDay):"
            let latest =
                earlier.compactMap { a in Int(a.dedupeKey.dropFirst(prefix.count)).map { (a, $0) } }
                .filter { $0.0.dedupeKey.hasPrefix(prefix) }.max { $0.1 < $1.1 }
            let end = answer.periodEnd.band.p50
            guard end > budget.amount else {
                if let (alert, _) = latest, alert.status != .resolved, !dryRun {
                    try await store.updateAlertStatus(
                        organizationID: budget.organizationID, id: alert.id, status: .resolved, by: nil, at: now,
                        audit: nil)
                    logger.info("alert resolved", metadata: ["alert": "\(alert.id)", "key": "\(alert.dedupeKey)"])
                }
                continue
            }
            if let (alert, _) = latest, alert.status != .resolved { continue }
            let key = prefix + String((latest?.1 ?? 0) + 1)
            let crossing = answer.budget?.exceedDayP50.map { day in
                (day < zone.localDate(of: now) ? "; crossed it on " : "; crossing it on ") + Self.dayText(day)
            }
            let figures = AlertFigures(
                periodStart: period.range.from, periodEnd: period.range.to, spent: answer.periodSpent,
                amount: budget.amount, percent: AlertText.percent(end, of: budget.amount),
                summary:
                    "Budget '\(budget.name)' is forecast to end the \(Self.periodWord(budget.period)) at \(AlertText.usd(end)), \(AlertText.usd(end - budget.amount)) over its \(AlertText.usd(budget.amount))"
                    + (crossing ?? ""))
            candidates.append(
                Candidate(
                    alert: Alert(
                        id: Identifier.make("al"), organizationID: budget.organizationID, type: .forecastOverrun,
                        dedupeKey: key, firedAt: now, budgetID: budget.id, rule: "forecast_overrun",
                        scope: budget.scope, figures: figures),
                    channelIDs: budget.channelIDs))
        }
        return candidates
    }

    static func periodWord(_ kind: BudgetPeriodKind) -> String {
        switch kind {
        case .day: "day"
        case .week: "week"
        case .month: "month"
        case .billingCycle: "billing cycle"
        case .custom: "period"
        }
    }

    /// "Tue 22 Dec".
    static func dayText(_ day: CivilDate) -> String {
        let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(weekdays[day.isoWeekday - 1]) \(day.day) \(months[day.month - 1])"
    }

    // MARK: anomaly

    /// Yesterday's anomalies (a completed local day; today's partial day is never judged here), for the organization
    /// and each project, feature, model and API key the forecast service judges: one alert per scope and day, to the
    /// rules' channels, and none while the scope's alert of the day before is under 24 h old (as spikes).
    func anomalyCandidates(_ forecasts: any ForecastSource, _ context: RuleContext) async throws -> [Candidate] {
        let yesterday = context.zone.localDate(of: context.now).addingDays(-1)
        let found = try await forecasts.anomalies(
            AnomalyRequest(organizationID: context.organization.id, from: yesterday, to: yesterday, now: context.now))
        guard !found.isEmpty else { return [] }
        let names = Dictionary(
            try await store.projects(organizationID: context.organization.id).map { ($0.id, $0.name) },
            uniquingKeysWith: { a, _ in a })
        func shown(_ dimension: UsageDimension, _ value: String) -> String {
            "\(dimension.rawValue) '\(dimension == .project ? names[value] ?? value : value)'"
        }
        func key(_ a: Anomaly, _ day: CivilDate) -> String {
            "anomaly:\(a.dimension?.rawValue ?? "organization"):\(a.value ?? ""):\(day)"
        }
        var candidates: [(Candidate, dayBefore: String)] = []
        for a in found {
            let name = a.dimension.map { shown($0, a.value ?? "") } ?? "the organization"
            let direction = a.cost > a.expected.p50 ? "above" : "below"
            let top = a.contributors.first.map { c in
                let sign = c.delta < .zero ? "-" : "+"
                let size = AlertText.usd(USD(nanos: Int64(c.delta.nanos.magnitude)))
                return "; most from \(shown(c.dimension, c.value)) \(sign)\(size)"
            }
            let figures = AlertFigures(
                periodStart: context.zone.startOfDay(a.day), periodEnd: context.zone.startOfDay(a.day.addingDays(1)),
                spent: a.cost, amount: a.expected.p50, percent: AlertText.percent(a.cost, of: a.expected.p50),
                summary:
                    "Spend of \(name) on \(Self.dayText(a.day)) was \(AlertText.usd(a.cost)), \(direction) its expected \(AlertText.usd(a.expected.p1))–\(AlertText.usd(a.expected.p99)) (usually \(AlertText.usd(a.expected.p50)))"
                    + (top ?? ""))
            var scope: BudgetScope = [:]
            if let d = a.dimension, let v = a.value { scope[d] = [v] }
            candidates.append(
                (
                    context.alert(.anomaly, rule: "anomaly", key: key(a, a.day), scope: scope, figures: figures),
                    key(a, a.day.addingDays(-1))
                ))
        }
        let before = try await store.firedAlerts(
            organizationID: context.organization.id, keys: candidates.map(\.dayBefore))
        let dayAgo = context.now.adding(seconds: -86_400)
        // The largest cost first, for the cap on new alerts.
        return candidates.filter { c in before[c.dayBefore].map { $0 <= dayAgo } ?? true }.map(\.0).sorted { a, b in
            let (x, y) = (a.alert.figures.spent ?? .zero, b.alert.figures.spent ?? .zero)
            return x != y ? x > y : a.alert.dedupeKey < b.alert.dedupeKey
        }
    }
}
