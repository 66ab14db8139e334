import Foundation
import TallyCore

/// What every channel's message says about one alert, resolved once (names, local days, the explorer link) and
/// rendered by `AlertEmail`, `AlertWebhookPayload`, `SlackMessage` and `DiscordMessage`.
public struct AlertMessage: Sendable, Equatable {
    public var alertID: String
    /// The alert's type (`budget_threshold`, …), or `test` for a channel's test message.
    public var type: String
    public var organizationID: String
    public var organizationName: String
    /// The budget that fired it (id and name) or, for the other rules, the rule's name.
    public var budget: (id: String, name: String)?
    public var rule: String?
    public var figures: AlertFigures
    public var occurredAt: Instant
    /// The period's first and last local day in the organization's time zone.
    public var firstDay: CivilDate?
    public var lastDay: CivilDate?
    /// The scope as a person reads it (projects by name), dimension order.
    public var scope: [(dimension: String, values: [String])]
    /// The usage explorer over the period, filtered to the scope.
    public var explorerURL: String

    public static func == (a: AlertMessage, b: AlertMessage) -> Bool {
        a.alertID == b.alertID && a.type == b.type && a.organizationID == b.organizationID
            && a.organizationName == b.organizationName && a.budget?.id == b.budget?.id
            && a.budget?.name == b.budget?.name && a.rule == b.rule && a.figures == b.figures
            && a.occurredAt == b.occurredAt && a.firstDay == b.firstDay && a.lastDay == b.lastDay
            && a.scope.map(\.dimension) == b.scope.map(\.dimension) && a.scope.map(\.values) == b.scope.map(\.values)
            && a.explorerURL == b.explorerURL
    }

    /// `projectNames`: project id → name (an id without a name is shown as the id).
    public init(
        alert: Alert, organization: Organization, budgetName: String?, projectNames: [String: String],
        publicURL: String, type: String? = nil
    ) {
        alertID = alert.id
        self.type = type ?? alert.type.rawValue
        organizationID = organization.id
        organizationName = organization.name
        budget = alert.budgetID.map { ($0, budgetName ?? $0) }
        rule = alert.budgetID == nil ? (alert.rule ?? alert.type.rawValue) : nil
        figures = alert.figures
        occurredAt = alert.firedAt
        let zone = TimeZoneRules(identifier: organization.timeZone) ?? .utc
        firstDay = alert.figures.periodStart.map(zone.localDate(of:))
        // The end is exclusive: the last day is the one holding the instant before it.
        lastDay = alert.figures.periodEnd.map { zone.localDate(of: Instant(microseconds: $0.microseconds - 1)) }
        scope = alert.scope.keys.sorted().map { d in
            (d.rawValue, (alert.scope[d] ?? []).map { d == .project ? (projectNames[$0] ?? $0) : $0 })
        }
        let from = firstDay ?? zone.localDate(of: alert.firedAt.adding(seconds: -6 * 86_400))
        let to = lastDay ?? zone.localDate(of: alert.firedAt)
        var query = [("preset", "custom"), ("from", from.description), ("to", to.description)]
        for (dimension, values) in scope { query.append((dimension, values.joined(separator: ","))) }
        var base = publicURL
        while base.hasSuffix("/") { base.removeLast() }
        explorerURL =
            base + "/usage?" + query.map { "\($0.0)=\(AlertText.percentEncoded($0.1))" }.joined(separator: "&")
    }

    /// A channel's test message: example figures over the current month, marked as a test everywhere.
    public static func test(channel: AlertChannel, organization: Organization, publicURL: String, at now: Instant)
        -> AlertMessage
    {
        let zone = TimeZoneRules(identifier: organization.timeZone) ?? .utc
        let today = zone.localDate(of: now)
        let first = CivilDate(year: today.year, month: today.month, day: 1)
        let next =
            today.month == 12
            ? CivilDate(year: today.year + 1, month: 1, day: 1)
            : CivilDate(year: today.year, month: today.month + 1, day: 1)
        let alert = Alert(
            id: Identifier.make("al_test"), organizationID: organization.id, type: .budgetThreshold,
            dedupeKey: "test", firedAt: now, rule: "test",
            figures: AlertFigures(
                periodStart: zone.startOfDay(first), periodEnd: zone.startOfDay(next),
                spent: USD(nanos: 80_000_000_000), amount: USD(nanos: 100_000_000_000), percent: "80.00",
                threshold: 80,
                summary: "Test message from Tally for the alert channel '\(channel.name)': these figures are an example"
            ))
        return AlertMessage(
            alert: alert, organization: organization, budgetName: nil, projectNames: [:], publicURL: publicURL,
            type: "test")
    }

    /// "Budget 'Search'" or "Rule spike": what fired, for titles.
    public var source: String {
        if let budget { return "Budget '\(budget.name)'" }
        return rule == "test" ? "Test" : "Rule \(rule ?? type)"
    }

    public var title: String {
        type == "test" ? "Tally test alert" : "Tally alert: \(source)"
    }

    public var periodText: String? {
        guard let firstDay, let lastDay else { return nil }
        return firstDay == lastDay ? firstDay.description : "\(firstDay) to \(lastDay)"
    }

    /// The figures as labelled lines, in the order every message shows them.
    public var facts: [(label: String, value: String)] {
        var out: [(String, String)] = []
        if let spent = figures.spent { out.append(("Spent", AlertText.usd(spent))) }
        if let amount = figures.amount {
            out.append((type == AlertType.spike.rawValue ? "7-day daily average" : "Budget", AlertText.usd(amount)))
        }
        if let percent = figures.percent { out.append(("Percent", percent + "%")) }
        if let threshold = figures.threshold { out.append(("Threshold", "\(threshold)%")) }
        if let periodText { out.append(("Period", periodText)) }
        for (dimension, values) in scope { out.append((dimension, values.joined(separator: ", "))) }
        return out
    }

    /// The percent as a whole number 0…100 for bars (a budget past 100% fills the bar).
    public var barPercent: Int? {
        guard let p = figures.percent, let whole = Int(p.split(separator: ".").first ?? "") else { return nil }
        return min(100, max(0, whole))
    }

    public static let estimateNote = "Costs are estimates computed by Tally from the usage it recorded."
}

/// Text helpers the renderers share.
public enum AlertText {
    /// `$1,234.50`-style without grouping: "$1234.50" (at least two decimals, exact beyond).
    public static func usd(_ amount: USD) -> String { "$" + decimal(amount) }

    /// "250.00", "0.0125": the exact decimal with at least two decimals.
    public static func decimal(_ amount: USD) -> String {
        var s = amount.decimalString
        if let dot = s.firstIndex(of: ".") {
            let places = s.distance(from: dot, to: s.endIndex) - 1
            if places < 2 { s += String(repeating: "0", count: 2 - places) }
        } else {
            s += ".00"
        }
        return s
    }

    /// `[########--] 83%`.
    public static func bar(_ percent: Int, width: Int = 10) -> String {
        let filled = min(width, max(0, (percent * width + 50) / 100))
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            + "] \(percent)%"
    }

    public static func html(_ text: String) -> String { TextEncoding.html(text) }

    /// RFC 3986 unreserved characters pass, everything else is %XX (so `&`, `=`, `#` in a name stay one value).
    public static func percentEncoded(_ text: String) -> String { TextEncoding.percentEncoded(text, keeping: ",") }
}
