import TallyCore
import TallyPrice
import TallyServices

/// A catalog update as `tally prices update` prints it: one line per added, ended and changed cell, then the impact.
enum CatalogText {
    static func lines(_ u: CatalogUpdate) -> [String] {
        var out = ["revision \(u.revision.rfc3339) (in force: \(u.currentRevision.rfc3339))"]
        if u.diff.isEmpty { out.append("no change to the catalog in force") }
        for a in u.diff.added {
            out.append("added    \(a.entry) (\(a.provider ?? "any") \(a.model) from \(a.from))")
        }
        for e in u.diff.ended {
            out.append("ended    \(e.entry) " + (e.to.map { "on \($0)" } ?? "(no longer in the catalog)"))
        }
        for c in u.diff.changed {
            out.append("changed  \(c.entry) \(c.cell): \(c.old ?? "(none)") → \(c.new ?? "(none)")")
        }
        out.append(
            "a recompute would change \(u.impact.events) stored events"
                + (u.impact.byModel.isEmpty
                    ? "" : ": " + u.impact.byModel.map { "\($0.model) \($0.events)" }.joined(separator: ", ")))
        out.append(
            u.applied
                ? "applied: new events are priced with revision \(u.revision.rfc3339)"
                : u.revision == u.currentRevision
                    ? "not applied: this revision is in force already" : "not applied (run with --apply to apply it)")
        return out
    }
}
