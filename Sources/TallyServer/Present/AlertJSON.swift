import TallyCore
import TallyServices

/// The JSON shape of an alert with its deliveries (`GET /api/v1/alerts`, acknowledge, check) and of the alert rules.
enum AlertJSON {
    /// An alert and its deliveries; `projectNames` turns the scope's project ids into names (an unknown id stays).
    static func write(
        _ a: Alert, deliveries: [AlertDelivery], projectNames: [String: String], into w: inout JSONWriter
    ) {
        w.beginObject()
        w.field("id", a.id)
        w.field("type", a.type.rawValue)
        w.field("status", a.status.rawValue)
        w.field("fired_at", a.firedAt.rfc3339)
        w.field("budget_id", a.budgetID)
        w.field("rule", a.rule)
        w.field("dedupe_key", a.dedupeKey)
        w.key("scope")
        w.beginObject()
        for dimension in a.scope.keys.sorted() {
            w.key(dimension.rawValue)
            w.beginArray()
            for value in a.scope[dimension] ?? [] {
                w.string(dimension == .project ? projectNames[value] ?? value : value)
            }
            w.endArray()
        }
        w.endObject()
        w.key("figures")
        writeFigures(a.figures, into: &w)
        w.field("acknowledged_at", a.acknowledgedAt?.rfc3339)
        w.field("acknowledged_by", a.acknowledgedBy)
        w.field("resolved_at", a.resolvedAt?.rfc3339)
        w.key("deliveries")
        w.beginArray()
        for d in deliveries {
            w.beginObject()
            w.field("id", d.id)
            w.field("channel", d.channelID)
            w.field("status", d.status.rawValue)
            w.field("attempts", d.attempts)
            w.field("last_error", d.lastError)
            w.field("next_attempt_at", d.status == .pending ? d.nextAttemptAt.rfc3339 : nil)
            w.field("delivered_at", d.deliveredAt?.rfc3339)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    static func writeFigures(_ f: AlertFigures, into w: inout JSONWriter) {
        w.beginObject()
        w.field("summary", f.summary)
        w.field("period_start", f.periodStart?.rfc3339)
        w.field("period_end", f.periodEnd?.rfc3339)
        w.field("spent_usd", f.spent.map(AlertText.decimal))
        w.field("amount_usd", f.amount.map(AlertText.decimal))
        w.field("percent", f.percent)
        w.field("threshold", f.threshold)
        w.endObject()
    }

    static func alert(_ a: Alert, deliveries: [AlertDelivery], projectNames: [String: String]) -> String {
        var w = JSONWriter()
        write(a, deliveries: deliveries, projectNames: projectNames, into: &w)
        return w.text
    }

    /// `POST /api/v1/alerts/check`: `{"dry_run", "fired": [alerts]}` (a dry run's alerts have no deliveries yet).
    static func check(
        dryRun: Bool, fired: [(Alert, [AlertDelivery])], projectNames: [String: String]
    ) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("dry_run", dryRun)
        w.key("fired")
        w.beginArray()
        for (alert, deliveries) in fired {
            write(alert, deliveries: deliveries, projectNames: projectNames, into: &w)
        }
        w.endArray()
        w.endObject()
        return w.text
    }
}
