import TallyCore

/// A statement as JSON: the API's `format=json` answer, and the snapshot a closed month keeps, so the two are one
/// shape and a closed statement reads back exactly as it was written.
public enum StatementCodec {
    public static func encode(_ s: Statement) -> String {
        var w = JSONWriter()
        write(s, into: &w)
        return w.text
    }

    public static func write(_ s: Statement, into w: inout JSONWriter) {
        w.beginObject()
        w.field("organization", s.organizationName)
        w.field("time_zone", s.timeZone)
        w.key("period")
        w.beginObject()
        w.field("kind", s.period.kind.rawValue)
        w.field("label", s.period.label)
        writeDays(s.period.firstDay, s.period.lastDay, into: &w)
        w.field("start", s.period.range.from.rfc3339)
        w.field("end", s.period.range.to.rfc3339)
        w.endObject()
        w.field("group_by", s.groupBy)
        w.field("currency", "USD")
        w.field("basis", "estimate from list prices; the provider's invoice is authoritative")
        w.key("totals")
        writeTotals(s.totals, into: &w)
        w.field("provider_billed_usd", s.providerBilled?.decimalString)
        w.key("groups")
        w.beginArray()
        for g in s.groups {
            w.beginObject()
            w.field("key", g.key)
            w.field("name", g.name)
            g.metrics.write(into: &w)
            w.field("tokens", g.metrics.tokens)
            w.field("share_percent", StatementFigures.share(g.metrics.cost, of: s.totals.cost))
            w.field("previous_cost_usd", g.previousCost.decimalString)
            w.endObject()
        }
        w.endArray()
        w.key("daily")
        writeDaily(s.daily, into: &w)
        w.key("previous")
        w.beginObject()
        w.field("label", s.previous.label)
        writeDays(s.previous.firstDay, s.previous.lastDay, into: &w)
        w.key("totals")
        writeTotals(s.previous.totals, into: &w)
        w.key("daily")
        writeDaily(s.previous.daily, into: &w)
        w.endObject()
        w.key("budgets")
        w.beginArray()
        for b in s.budgets {
            w.beginObject()
            w.field("name", b.name)
            w.field("scope", b.scope)
            w.field("period", b.period)
            w.field("amount_usd", b.amount.decimalString)
            w.field("spent_usd", b.spent.decimalString)
            w.field("status", b.status)
            w.endObject()
        }
        w.endArray()
        w.key("closed")
        if let c = s.closure {
            w.beginObject()
            w.field("number", c.number)
            w.field("closed_at", c.closedAt.rfc3339)
            w.field("closed_by", c.closedBy)
            w.endObject()
        } else {
            w.null()
        }
        w.field("generated_at", s.generatedAt.rfc3339)
        w.endObject()
    }

    private static func writeDays(_ first: CivilDate, _ last: CivilDate, into w: inout JSONWriter) {
        w.field("from", first.description)
        w.field("to", last.description)
    }

    private static func writeTotals(_ m: UsageMetrics, into w: inout JSONWriter) {
        w.beginObject()
        m.write(into: &w)
        w.field("tokens", m.tokens)
        w.endObject()
    }

    private static func writeDaily(_ days: [StatementDay], into w: inout JSONWriter) {
        w.beginArray()
        for d in days {
            w.beginObject()
            w.field("date", d.date.description)
            w.field("cost_usd", d.cost.decimalString)
            w.endObject()
        }
        w.endArray()
    }

    // MARK: Reading a snapshot back

    public struct DecodingError: Error, Sendable { public var field: String }

    public static func decode(_ text: String) throws -> Statement {
        let json: JSONValue
        do { json = try JSONParser.parse(Array(text.utf8)) } catch { throw DecodingError(field: "(document)") }
        return try decode(json)
    }

    public static func decode(_ json: JSONValue) throws -> Statement {
        let period = try object(json, "period")
        let previous = try object(json, "previous")
        let kind = try string(period, "period.kind")
        guard let periodKind = StatementPeriod.Kind(rawValue: kind) else { throw DecodingError(field: "period.kind") }
        let closed: StatementClosure?
        switch json["closed"] {
        case .null?, nil: closed = nil
        case let c?:
            closed = StatementClosure(
                number: try string(c, "number"), closedAt: try instant(c, "closed_at"),
                closedBy: try string(c, "closed_by"))
        }
        return Statement(
            organizationName: try string(json, "organization"), timeZone: try string(json, "time_zone"),
            period: StatementPeriod(
                kind: periodKind, label: try string(period, "label"), firstDay: try date(period, "from"),
                lastDay: try date(period, "to"),
                range: TimeRange(from: try instant(period, "start"), to: try instant(period, "end"))),
            groupBy: try string(json, "group_by"), totals: try metrics(json["totals"], "totals"),
            groups: try array(json, "groups").map { g in
                StatementGroup(
                    key: try optionalString(g, "key"), name: try string(g, "name"), metrics: try metrics(g, "groups"),
                    previousCost: try usd(g, "previous_cost_usd"))
            },
            daily: try daily(json, "daily"),
            previous: StatementPrevious(
                label: try string(previous, "label"), firstDay: try date(previous, "from"),
                lastDay: try date(previous, "to"), totals: try metrics(previous["totals"], "previous.totals"),
                daily: try daily(previous, "previous.daily")),
            budgets: try array(json, "budgets").map { b in
                StatementBudget(
                    name: try string(b, "name"), scope: try string(b, "scope"), period: try string(b, "period"),
                    amount: try usd(b, "amount_usd"), spent: try usd(b, "spent_usd"), status: try string(b, "status"))
            },
            providerBilled: try optionalString(json, "provider_billed_usd").map { text in
                guard let v = USD(decimal: text) else { throw DecodingError(field: "provider_billed_usd") }
                return v
            },
            closure: closed, generatedAt: try instant(json, "generated_at"))
    }

    private static func name(_ path: String) -> String { String(path.split(separator: ".").last ?? "") }

    private static func string(_ json: JSONValue, _ path: String) throws -> String {
        guard case .string(let s)? = json[name(path)] else { throw DecodingError(field: path) }
        return s
    }

    private static func optionalString(_ json: JSONValue, _ path: String) throws -> String? {
        switch json[name(path)] {
        case .string(let s)?: return s
        case .null?: return nil
        default: throw DecodingError(field: path)
        }
    }

    private static func object(_ json: JSONValue, _ path: String) throws -> JSONValue {
        guard let v = json[name(path)], case .object = v else { throw DecodingError(field: path) }
        return v
    }

    private static func array(_ json: JSONValue, _ path: String) throws -> [JSONValue] {
        guard case .array(let items)? = json[name(path)] else { throw DecodingError(field: path) }
        return items
    }

    private static func date(_ json: JSONValue, _ path: String) throws -> CivilDate {
        guard let d = CivilDate(parsing: try string(json, path)) else { throw DecodingError(field: path) }
        return d
    }

    private static func instant(_ json: JSONValue, _ path: String) throws -> Instant {
        guard let i = Instant(rfc3339: try string(json, path)) else { throw DecodingError(field: path) }
        return i
    }

    private static func usd(_ json: JSONValue, _ path: String) throws -> USD {
        guard let v = USD(decimal: try string(json, path)) else { throw DecodingError(field: path) }
        return v
    }

    private static func metrics(_ json: JSONValue?, _ path: String) throws -> UsageMetrics {
        guard let json, let m = UsageMetrics(json: json) else { throw DecodingError(field: path) }
        return m
    }

    private static func daily(_ json: JSONValue, _ path: String) throws -> [StatementDay] {
        try array(json, path).map { StatementDay(date: try date($0, "date"), cost: try usd($0, "cost_usd")) }
    }
}
