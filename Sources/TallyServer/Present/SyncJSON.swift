import TallyCore

/// The JSON shapes of sync runs and of the provider references a connection's reports name.
enum SyncJSON {
    static func write(_ r: SyncRun, into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", r.id)
        w.field("connection_id", r.connectionID)
        w.field("trigger", r.trigger.rawValue)
        w.field("from", r.from.rfc3339)
        w.field("to", r.to.rfc3339)
        w.field("status", r.status.rawValue)
        w.field("pages", r.pages)
        w.field("rows", r.rows)
        w.field("started_at", r.startedAt.rfc3339)
        w.field("finished_at", r.finishedAt?.rfc3339)
        w.field("duration_ms", r.finishedAt.map { ($0.microseconds - r.startedAt.microseconds) / 1000 })
        w.field("error", r.error)
        w.endObject()
    }

    static func run(_ r: SyncRun) -> String {
        var w = JSONWriter()
        write(r, into: &w)
        return w.text
    }

    /// The references seen in a connection's reports; a project/workspace carries the Tally project it maps to
    /// (`projectName` of the mapped id; `null`: unassigned).
    static func refs(_ refs: [ProviderRef], projectName: (String) -> String?) -> String {
        ListJSON.list(refs) { r, w in
            w.beginObject()
            w.field("kind", r.kind)
            w.field("ref", r.ref)
            w.field("rows", r.rows)
            if r.kind == "project" { w.field("project", projectName(r.ref)) }
            w.endObject()
        }
    }
}
