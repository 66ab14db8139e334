import TallyCore

/// What people do with alerts: acknowledge one, change the rules. Each change is audited in the same transaction.
public struct AlertService<Store: AlertStore & AlertChannelStore>: Sendable {
    public let store: Store

    public init(store: Store) { self.store = store }

    /// Marks an open alert acknowledged by `actor`; an alert already acknowledged or resolved is answered as it is.
    /// Another organization's alert is `notFound`.
    public func acknowledge(organizationID: String, id: String, actor: String, at now: Instant = .now)
        async throws -> Alert
    {
        guard let alert = try await store.alert(organizationID: organizationID, id: id) else {
            throw TallyError.notFound("alert '\(id)'")
        }
        guard alert.status == .open else { return alert }
        try await store.updateAlertStatus(
            organizationID: organizationID, id: id, status: .acknowledged, by: actor, at: now,
            audit: .make(
                organizationID: organizationID, actor: actor, action: "alert.acknowledge",
                detail: [("alert", .string(id)), ("type", .string(alert.type.rawValue))], at: now))
        return try await store.alert(organizationID: organizationID, id: id) ?? alert
    }

    /// Saves the rules (already read with `AlertRules.applying`) once every channel they name is one of the
    /// organization's.
    public func saveRules(_ rules: AlertRules, organizationID: String, actor: String) async throws {
        let known = Set(try await store.alertChannels(organizationID: organizationID).map(\.id))
        if let unknown = rules.channelIDs.first(where: { !known.contains($0) }) {
            throw TallyError.invalid([
                FieldProblem(field: "channels", reason: "'\(unknown)' is not an alert channel of this organization")
            ])
        }
        try await store.saveAlertRules(
            organizationID: organizationID, rules,
            audit: .make(
                organizationID: organizationID, actor: actor, action: "alert_rules.update",
                detail: [("rules", try JSONParser.parse(Array(rules.json.utf8)))]))
    }
}
