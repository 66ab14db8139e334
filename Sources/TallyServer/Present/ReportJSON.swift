import TallyCore

/// Teams and closed periods as the API shows them (issue 20). Statements are written by `StatementCodec`
/// (TallyDocuments): the same shape a closed month keeps.
enum ReportJSON {
    static func writeTeam(_ t: Team, projects: [String: String], into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", t.id)
        w.field("name", t.name)
        w.key("projects")
        w.beginArray()
        for name in t.projectIDs.map({ projects[$0] ?? $0 }).sorted() { w.string(name) }
        w.endArray()
        w.field("created_at", t.createdAt.rfc3339)
        w.field("updated_at", t.updatedAt.rfc3339)
        w.endObject()
    }

    static func team(_ t: Team, projects: [String: String]) -> String {
        var w = JSONWriter()
        writeTeam(t, projects: projects, into: &w)
        return w.text
    }

    static func writeClosedPeriod(_ p: ClosedPeriod, into w: inout JSONWriter) {
        w.beginObject()
        w.field("month", p.month)
        w.field("closed", true)
        w.field("number", p.number)
        w.field("start", p.range.from.rfc3339)
        w.field("end", p.range.to.rfc3339)
        w.field("closed_at", p.closedAt.rfc3339)
        w.field("closed_by", p.closedBy)
        w.endObject()
    }

    static func closedPeriod(_ p: ClosedPeriod) -> String {
        var w = JSONWriter()
        writeClosedPeriod(p, into: &w)
        return w.text
    }

    /// A month as reopened: no longer closed.
    static func reopened(_ month: String) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("month", month)
        w.field("closed", false)
        w.endObject()
        return w.text
    }
}
