import TallyCore

/// An organization's alert rules: one row holding their JSON definition (`AlertRules.json`), read and written whole.
extension SQLStore {
    /// The saved rules, or the defaults when the organization never saved any.
    public func alertRules(organizationID: String) async throws -> AlertRules {
        let rows = try await database.query(
            statement([("SELECT definition FROM alert_rules WHERE org_id = ", .text(organizationID))]))
        guard let row = rows.first else { return AlertRules() }
        return try AlertRules(definition: try row.text("definition"))
    }

    /// Replaces the rules and records the audit entry in one transaction.
    public func saveAlertRules(organizationID: String, _ rules: AlertRules, audit: AuditRecord) async throws {
        let upsert = statement([
            ("INSERT INTO alert_rules (org_id, definition, updated_us) VALUES (", .text(organizationID)),
            (", ", .text(rules.json)), (", ", .int(audit.at.microseconds)),
            (
                ") ON CONFLICT (org_id) DO UPDATE SET definition = excluded.definition, updated_us = excluded.updated_us",
                nil
            ),
        ])
        try await database.transaction([SQLStep(upsert, expectedChanges: 1), SQLStep(auditInsert(audit))])
    }
}
