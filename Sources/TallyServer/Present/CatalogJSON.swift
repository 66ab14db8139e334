import TallyCore
import TallyPrice
import TallyServices

/// A catalog update's answer (`POST /api/v1/prices/catalog`, `tally prices update --json`) and the catalog in force
/// (`GET /api/v1/prices/catalog`).
public enum CatalogJSON {
    public static func update(_ u: CatalogUpdate) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("revision", u.revision.rfc3339)
        w.field("current_revision", u.currentRevision.rfc3339)
        w.key("added")
        w.beginArray()
        for a in u.diff.added {
            w.beginObject()
            w.field("entry", a.entry); w.field("provider", a.provider); w.field("model", a.model)
            w.field("from", a.from.description)
            w.endObject()
        }
        w.endArray()
        w.key("ended")
        w.beginArray()
        for e in u.diff.ended {
            w.beginObject()
            w.field("entry", e.entry); w.field("to", e.to?.description); w.field("removed", e.to == nil)
            w.endObject()
        }
        w.endArray()
        w.key("changed")
        w.beginArray()
        for c in u.diff.changed {
            w.beginObject()
            w.field("entry", c.entry); w.field("cell", c.cell); w.field("old", c.old); w.field("new", c.new)
            w.endObject()
        }
        w.endArray()
        w.key("recompute_impact")
        w.beginObject()
        w.field("events", u.impact.events)
        w.key("by_model")
        w.beginArray()
        for m in u.impact.byModel {
            w.beginObject(); w.field("model", m.model); w.field("events", m.events); w.endObject()
        }
        w.endArray()
        w.endObject()
        w.field("applied", u.applied)
        w.endObject()
        return w.text
    }

    static func inForce(_ c: CatalogInForce) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("revision", c.revision.rfc3339)
        w.field("source", c.origin.rawValue)
        w.field("applied_at", c.appliedAt?.rfc3339)
        w.field("sha256", c.sha256)
        w.key("entries")
        w.beginArray()
        for e in c.catalog.entries { PriceJSON.writeEntry(e, into: &w) }
        w.endArray()
        w.endObject()
        return w.text
    }
}

/// `/readyz`: ready or not (the store), with details that do not change readiness: the catalog in force and how
/// the last read of TALLY_PRICES_URL went.
enum ReadinessJSON {
    static func json(ready: Bool, catalog: CatalogInForce, url: CatalogURLStatus.Snapshot?) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("status", ready ? "ready" : "not_ready")
        w.key("details")
        w.beginObject()
        w.key("price_catalog")
        w.beginObject()
        w.field("revision", catalog.revision.rfc3339)
        w.field("source", catalog.origin.rawValue)
        if let url {
            w.key("url")
            w.beginObject()
            w.field("status", url.checkedAt == nil ? "pending" : url.error == nil ? "ok" : "failed")
            w.field("checked_at", url.checkedAt?.rfc3339)
            w.field("revision", url.revision?.rfc3339)
            w.field("error", url.error)
            w.endObject()
        }
        w.endObject()
        w.endObject()
        w.endObject()
        return w.text
    }
}
