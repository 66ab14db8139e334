import TallyCore
import TallyServices

/// Alert channels as the API answers them. Secrets never leave: a webhook says whether it has a signing secret
/// (`secret_set`), a Slack or Discord channel shows only its webhook URL's origin (`https://hooks.slack.com/…`).
enum AlertChannelJSON {
    /// `optIns`: what the email channels opted in to (weekly digest, scheduled statements).
    static func write(_ c: AlertChannel, optIns: EmailOptIns = EmailOptIns(), into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", c.id)
        w.field("name", c.name)
        w.field("type", c.kind.rawValue)
        switch c.kind {
        case .email:
            w.key("to")
            w.beginArray()
            for address in c.targets { w.string(address) }
            w.endArray()
            optIns.write(c, into: &w)
        case .webhook:
            w.field("url", c.targets.first)
            w.field("secret_set", c.sealedSecret != nil)
        case .slack, .discord:
            w.field("webhook_url", c.targets.first)
        }
        w.field("created_at", c.createdAt.rfc3339)
        w.field("updated_at", c.updatedAt.rfc3339)
        w.endObject()
    }

    static func channel(_ c: AlertChannel, optIns: EmailOptIns = EmailOptIns()) -> String {
        var w = JSONWriter()
        write(c, optIns: optIns, into: &w)
        return w.text
    }

    /// `POST /api/v1/alert-channels/{id}/test`: `{"delivered", "status", "error"}`.
    static func test(_ outcome: DeliveryOutcome) -> String {
        var w = JSONWriter()
        w.beginObject()
        if case .delivered = outcome { w.field("delivered", true) } else { w.field("delivered", false) }
        w.field("status", outcome.status)
        w.field("error", outcome.error)
        w.endObject()
        return w.text
    }
}
