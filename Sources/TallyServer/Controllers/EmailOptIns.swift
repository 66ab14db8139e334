import TallyCore
import TallyServices

/// What an email channel opted in to besides alerts: `weekly_digest` (issue 18: new insights and the month-end
/// forecast), `monthly_statement` and `weekly_summary` (issue 20: scheduled statements). Taken out of the body
/// before the channel's own fields are read, and stored beside them.
struct EmailOptIns: Sendable {
    static let fields = ["weekly_digest"] + ScheduledReport.allCases.map(\.rawValue)

    /// Per field, the ids of the organization's channels that opted in.
    var channels: [String: Set<String>] = [:]

    func write(_ c: AlertChannel, into w: inout JSONWriter) {
        for field in Self.fields { w.field(field, channels[field]?.contains(c.id) ?? false) }
    }

    static func read(_ store: some InsightStore & ScheduledReportStore, organizationID: String) async throws
        -> EmailOptIns
    {
        var out = EmailOptIns()
        out.channels["weekly_digest"] = Set(try await store.weeklyDigestChannelIDs(organizationID: organizationID))
        for report in ScheduledReport.allCases {
            out.channels[report.rawValue] = Set(
                try await store.reportChannelIDs(organizationID: organizationID, report: report))
        }
        return out
    }

    /// Stores what a request gave (nil: not given).
    static func store(
        _ given: [String: Bool], channel c: AlertChannel, in store: some InsightStore & ScheduledReportStore
    ) async throws {
        for (field, enabled) in given {
            if let report = ScheduledReport(rawValue: field) {
                try await store.setReportSchedule(
                    organizationID: c.organizationID, channelID: c.id, report: report, enabled: enabled)
            } else {
                try await store.setWeeklyDigest(organizationID: c.organizationID, channelID: c.id, enabled: enabled)
            }
        }
    }

    /// The body without the opt-in fields, and the values given (null: not given). Not a boolean, or given for a
    /// channel that is not email: a 400 naming the field.
    static func split(_ body: JSONValue, kind: () throws -> AlertChannelKind) throws -> (JSONValue, [String: Bool]) {
        guard case .object(let members) = body else { return (body, [:]) }
        let rest = JSONValue.object(members.filter { !fields.contains($0.0) })
        var given: [String: Bool] = [:]
        var problems: [FieldProblem] = []
        for (name, value) in members where fields.contains(name) {
            switch value {
            case .null: continue
            case .bool(let enabled): given[name] = enabled
            default: problems.append(FieldProblem(field: name, reason: "must be true or false"))
            }
        }
        if !problems.isEmpty { throw TallyError.invalid(problems) }
        if let name = given.keys.sorted().first {
            let k = try kind()
            guard k == .email else {
                throw TallyError.invalid([
                    FieldProblem(field: name, reason: "does not apply to a \(k.rawValue) channel")
                ])
            }
        }
        return (rest, given)
    }

    /// The kind a new channel's body names (its own check names `type` if it is wrong).
    static func kind(of body: JSONValue) throws -> AlertChannelKind {
        guard case .string(let raw)? = body["type"] else { return try AlertChannelRules.kind(nil) }
        return try AlertChannelRules.kind(raw)
    }
}
