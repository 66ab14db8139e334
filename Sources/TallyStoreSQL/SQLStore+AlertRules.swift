import TallyCore

// CONTRACT STUB (issue 17): helper E replaces this file with the alert_rules table's queries.
extension SQLStore {
    public func alertRules(organizationID: String) async throws -> AlertRules { fatalError("issue 17: alert rules") }
    public func saveAlertRules(organizationID: String, _ rules: AlertRules, audit: AuditRecord) async throws {
        fatalError("issue 17: alert rules")
    }
}
