import TallyCore
import TallyServices

/// `weekly_digest` on an alert channel (issue 18): an email channel's opt-in to the weekly digest of new insights and
/// the month-end forecast. Taken out of the body before the channel's own fields are read, and stored beside them.
enum WeeklyDigestField {
    /// The body without `weekly_digest`, and its value (nil: not given). Not a boolean, or given for a channel that
    /// is not email: a 400 naming the field.
    static func split(_ body: JSONValue, kind: () throws -> AlertChannelKind) throws -> (JSONValue, Bool?) {
        guard case .object(let members) = body, let value = members.first(where: { $0.0 == "weekly_digest" })?.1
        else { return (body, nil) }
        let rest = JSONValue.object(members.filter { $0.0 != "weekly_digest" })
        if value == .null { return (rest, nil) }
        guard case .bool(let enabled) = value else {
            throw TallyError.invalid([FieldProblem(field: "weekly_digest", reason: "must be true or false")])
        }
        let k = try kind()
        guard k == .email else {
            throw TallyError.invalid([
                FieldProblem(field: "weekly_digest", reason: "does not apply to a \(k.rawValue) channel")
            ])
        }
        return (rest, enabled)
    }

    /// The kind a new channel's body names (its own check names `type` if it is wrong).
    static func kind(of body: JSONValue) throws -> AlertChannelKind {
        guard case .string(let raw)? = body["type"] else { return try AlertChannelRules.kind(nil) }
        return try AlertChannelRules.kind(raw)
    }
}
