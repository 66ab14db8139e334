import TallyCore

/// JSON shapes of budgets (issue 17): every budget answer carries its live status.
enum BudgetJSON {
    /// An exact amount with at least two decimals ("250.00", "226.125"), never a float.
    static func amount(_ usd: USD) -> String {
        let text = usd.decimalString
        guard let dot = text.firstIndex(of: ".") else { return text + ".00" }
        let decimals = text.distance(from: dot, to: text.endIndex) - 1
        return decimals >= 2 ? text : text + String(repeating: "0", count: 2 - decimals)
    }

    /// `projects`: ids to names, so a scope reads as the API was given it (projects by name). `reserved`: the gateway
    /// calls in flight holding part of the current period's amount (issue 19's hard budgets).
    static func write(
        _ b: Budget, status: BudgetStatus, projects: [String: String], reserved: USD = .zero, into w: inout JSONWriter
    ) {
        w.beginObject()
        w.field("id", b.id)
        w.field("name", b.name)
        w.key("scope")
        w.beginObject()
        for dimension in b.scope.keys.sorted() {
            w.key(dimension.rawValue)
            w.beginArray()
            for value in b.scope[dimension] ?? [] { w.string(dimension == .project ? projects[value] ?? value : value) }
            w.endArray()
        }
        w.endObject()
        w.field("period", b.period.rawValue)
        w.field("from", b.customFrom?.description)
        w.field("to", b.customTo?.description)
        w.field("amount_usd", amount(b.amount))
        w.key("thresholds")
        w.beginArray()
        for t in b.thresholds { w.int(Int64(t)) }
        w.endArray()
        w.field("ledger", b.ledger.rawValue)
        w.key("channels")
        w.beginArray()
        for c in b.channelIDs { w.string(c) }
        w.endArray()
        w.field("enabled", b.enabled)
        w.field("enforce", b.enforce)
        w.field("reserved_usd", amount(reserved))
        w.field("muted_until", b.mutedUntil?.rfc3339)
        w.field("project_id", b.projectBudgetOf)
        w.field("created_at", b.createdAt.rfc3339)
        w.field("updated_at", b.updatedAt.rfc3339)
        w.key("status")
        writeStatus(status, into: &w)
        w.endObject()
    }

    static func writeStatus(_ s: BudgetStatus, into w: inout JSONWriter) {
        w.beginObject()
        w.field("period_start", s.period.from.rfc3339)
        w.field("period_end", s.period.to.rfc3339)
        w.field("spent_usd", amount(s.spent))
        w.field("percent", s.percent)
        w.field("remaining_usd", amount(s.remaining))
        w.key("thresholds")
        w.beginArray()
        for t in s.thresholds {
            w.beginObject()
            w.field("percent", t.percent)
            w.field("fired_at", t.firedAt?.rfc3339)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    static func budget(_ b: Budget, status: BudgetStatus, projects: [String: String], reserved: USD = .zero) -> String {
        var w = JSONWriter()
        write(b, status: status, projects: projects, reserved: reserved, into: &w)
        return w.text
    }

    /// `GET/PATCH /api/v1/projects/{id}/budget`: the project's monthly budget as the seed format has it, with its id
    /// and status.
    static func projectBudget(_ b: Budget, status: BudgetStatus) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("id", b.id)
        w.field("project_id", b.projectBudgetOf)
        w.field("amount_usd", amount(b.amount))
        w.key("thresholds")
        w.beginArray()
        for t in b.thresholds { w.int(Int64(t)) }
        w.endArray()
        w.key("status")
        writeStatus(status, into: &w)
        w.endObject()
        return w.text
    }
}
