import TallyCore

// CONTRACT STUB (issue 17): helper C replaces this file with the queries of the alerts, the delivery outbox and the
// alert channels.
extension SQLStore {
    public func recordAlert(_ alert: Alert, deliveries: [AlertDelivery]) async throws -> Bool {
        fatalError("issue 17: alerts")
    }
    public func alerts(_ query: AlertQuery) async throws -> [Alert] { fatalError("issue 17: alerts") }
    public func alert(organizationID: String, id: String) async throws -> Alert? { fatalError("issue 17: alerts") }
    public func firedAlerts(organizationID: String, keys: [String]) async throws -> [String: Instant] {
        fatalError("issue 17: alerts")
    }
    public func updateAlertStatus(
        organizationID: String, id: String, status: AlertStatus, by: String?, at: Instant, audit: AuditRecord?
    ) async throws { fatalError("issue 17: alerts") }
    public func deleteAlert(organizationID: String, id: String) async throws { fatalError("issue 17: alerts") }

    public func createAlertChannel(_ channel: AlertChannel, audit: AuditRecord) async throws {
        fatalError("issue 17: alerts")
    }
    public func updateAlertChannel(_ channel: AlertChannel, audit: AuditRecord) async throws {
        fatalError("issue 17: alerts")
    }
    public func deleteAlertChannel(organizationID: String, id: String, audit: AuditRecord) async throws {
        fatalError("issue 17: alerts")
    }
    public func alertChannels(organizationID: String) async throws -> [AlertChannel] { fatalError("issue 17: alerts") }
    public func alertChannel(organizationID: String, id: String) async throws -> AlertChannel? {
        fatalError("issue 17: alerts")
    }

    public func claimDueDeliveries(holder: String, now: Instant, until: Instant, limit: Int) async throws
        -> [AlertDelivery]
    { fatalError("issue 17: alerts") }
    public func finishDelivery(_ delivery: AlertDelivery, holder: String) async throws {
        fatalError("issue 17: alerts")
    }
    public func deliveries(organizationID: String, alertID: String) async throws -> [AlertDelivery] {
        fatalError("issue 17: alerts")
    }
}
