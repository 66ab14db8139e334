import Crypto
import TallyCore

/// The webhook channel's body and signature.
///
/// Body: `{"id", "type", "organization": {"id", "name"}, "budget": {"id", "name"}` (budget alerts) or `"rule": "spike"`
/// (the others), `"period": {"start", "end"}` (RFC 3339, end exclusive; null when the alert has none), `"spent_usd",
/// "amount_usd"` (decimal strings or null), `"percent"` (decimal string or null), `"threshold"` (integer or null),
/// `"occurred_at"`, `"url"` (the usage explorer)}.
/// Headers: `X-Tally-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` when the channel has a
/// secret, and `X-Tally-Alert-Id` (the same on every retry, for idempotency).
public enum AlertWebhookPayload {
    public static func body(_ m: AlertMessage) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("id", m.alertID)
        w.field("type", m.type)
        w.key("organization")
        w.beginObject()
        w.field("id", m.organizationID)
        w.field("name", m.organizationName)
        w.endObject()
        if let budget = m.budget {
            w.key("budget")
            w.beginObject()
            w.field("id", budget.id)
            w.field("name", budget.name)
            w.endObject()
        } else {
            w.field("rule", m.rule)
        }
        w.key("period")
        if let start = m.figures.periodStart, let end = m.figures.periodEnd {
            w.beginObject()
            w.field("start", start.rfc3339)
            w.field("end", end.rfc3339)
            w.endObject()
        } else {
            w.null()
        }
        w.field("spent_usd", m.figures.spent.map(AlertText.decimal))
        w.field("amount_usd", m.figures.amount.map(AlertText.decimal))
        w.field("percent", m.figures.percent)
        w.field("threshold", m.figures.threshold)
        w.field("occurred_at", m.occurredAt.rfc3339)
        w.field("url", m.explorerURL)
        w.endObject()
        return w.text
    }

    /// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
    public static func signature(secret: String, body: String, at time: Instant) -> String {
        let t = time.seconds
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array("\(t).\(body)".utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(t),v1=" + mac.map { String($0, radix: 16).leftPadded(2) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
