import TallyCore

/// A safety filter as the API shows it: the shape `POST /api/v1/safety-filters` takes, with its id and times.
enum SafetyFilterJSON {
    static func write(_ f: SafetyFilter, projects: [String: String], into w: inout JSONWriter) {
        func list(_ key: String, _ values: [String]) {
            w.key(key)
            w.beginArray()
            for v in values { w.string(v) }
            w.endArray()
        }
        w.beginObject()
        w.field("id", f.id)
        w.field("name", f.name)
        w.key("scope")
        w.beginObject()
        if let project = f.projectID { w.field("project", projects[project] ?? project) }
        w.endObject()
        list("detectors", f.detectors)
        list("keywords", f.keywords)
        list("regex", f.patterns)
        w.field("on", f.side)
        w.field("action", f.action)
        w.field("created_at", f.createdAt.rfc3339)
        w.field("updated_at", f.updatedAt.rfc3339)
        w.endObject()
    }
}
