import Synchronization
import TallyCore

/// The parts of the store the connection and price services need, in memory: enough to test their rules without a
/// database. Event reads answer empty pages (nothing here is ingested).
final class InMemoryStore: ConnectionStore, PriceStore, EventStore, CatalogRevisionStore, Sendable {
    struct State {
        var connections: [ProviderConnection] = []
        var prices: [OrganizationPriceRecord] = []
        var audit: [AuditRecord] = []
        var catalogRevisions: [CatalogRevisionRecord] = []
        var organizations = ["org_a", "org_b"]
    }
    let state = Mutex(State())

    var audit: [AuditRecord] { state.withLock { $0.audit } }

    // MARK: ConnectionStore

    func createConnection(_ connection: ProviderConnection, audit: AuditRecord) async throws {
        try state.withLock { s in
            guard !s.connections.contains(where: { $0.id == connection.id }) else {
                throw TallyError.conflict("connection exists")
            }
            s.connections.append(connection)
            s.audit.append(audit)
        }
    }

    func connections(organizationID: String) async throws -> [ProviderConnection] {
        state.withLock { $0.connections.filter { $0.organizationID == organizationID } }
    }

    func connection(organizationID: String, id: String) async throws -> ProviderConnection? {
        state.withLock { $0.connections.first { $0.organizationID == organizationID && $0.id == id } }
    }

    func updateConnection(_ connection: ProviderConnection, audit: AuditRecord?) async throws {
        try state.withLock { s in
            guard
                let i = s.connections.firstIndex(where: {
                    $0.organizationID == connection.organizationID && $0.id == connection.id
                })
            else { throw TallyError.notFound("provider connection '\(connection.id)'") }
            s.connections[i] = connection
            if let audit { s.audit.append(audit) }
        }
    }

    func deleteConnection(organizationID: String, id: String, audit: AuditRecord) async throws {
        try state.withLock { s in
            guard let i = s.connections.firstIndex(where: { $0.organizationID == organizationID && $0.id == id }) else {
                throw TallyError.notFound("provider connection '\(id)'")
            }
            s.connections.remove(at: i)
            s.audit.append(audit)
        }
    }

    func sealedSecrets() async throws -> [SealedSecretRecord] {
        state.withLock { s in
            s.connections.flatMap { c in
                ProviderConnection.SecretField.allCases.compactMap { field in
                    c.sealed(field).map {
                        SealedSecretRecord(
                            organizationID: c.organizationID, connectionID: c.id, field: field, secret: $0)
                    }
                }
            }
        }
    }

    func replaceSealedSecrets(_ changes: [(old: SealedSecretRecord, new: SealedSecret)]) async throws {
        state.withLock { s in
            for change in changes {
                guard let i = s.connections.firstIndex(where: { $0.id == change.old.connectionID }) else { continue }
                switch change.old.field {
                case .apiKey: s.connections[i].apiKey = change.new
                case .adminKey: s.connections[i].adminKey = change.new
                case .alertChannel, .twoFactor: break
                }
            }
        }
    }

    // MARK: PriceStore

    func priceRecords(organizationID: String?) async throws -> [OrganizationPriceRecord] {
        state.withLock { s in s.prices.filter { organizationID == nil || $0.organizationID == organizationID } }
    }

    func addPriceRecord(_ record: OrganizationPriceRecord, audit: AuditRecord) async throws {
        state.withLock { s in
            s.prices.append(record)
            s.audit.append(audit)
        }
    }

    func endPriceRecord(organizationID: String, id: String, on date: CivilDate, audit: AuditRecord) async throws {
        try state.withLock { s in
            guard let i = s.prices.firstIndex(where: { $0.organizationID == organizationID && $0.id == id }) else {
                throw TallyError.notFound("price entry '\(id)'")
            }
            if s.prices[i].from >= date { s.prices.remove(at: i) } else { s.prices[i].to = date }
            s.audit.append(audit)
        }
    }

    func unpricedModels(organizationID: String, from: Instant?, to: Instant?, projectIDs: [String]?) async throws
        -> [UnpricedModel]
    { [] }

    func applyRepricing(_ changes: [RepricedEvent], audit: AuditRecord) async throws {
        state.withLock { $0.audit.append(audit) }
    }

    // MARK: EventStore (nothing is ingested here)

    func insert(_ batches: [EventBatch]) async throws -> [InsertOutcome] {
        throw TallyError.unavailable("the in-memory store holds no events")
    }

    func events(_ query: EventQuery) async throws -> EventPage { EventPage(events: [], next: nil) }

    func eventsStored(after sequence: Int64, organizationID: String, filters: DimensionFilters, limit: Int) async throws
        -> [SequencedEvent]
    { [] }

    func latestSequence() async throws -> Int64 { 0 }

    func event(organizationID: String, id: String, projectIDs: [String]?) async throws -> StoredEvent? { nil }
}

extension InMemoryStore {
    // MARK: CatalogRevisionStore

    func newestCatalogRevision(newerThan: Instant?) async throws -> CatalogRevisionRecord? {
        state.withLock { s in
            s.catalogRevisions.filter { newerThan == nil || $0.revision > newerThan! }.max { $0.revision < $1.revision }
        }
    }

    func addCatalogRevision(_ record: CatalogRevisionRecord, audit: AuditRecord) async throws {
        try state.withLock { s in
            guard !s.catalogRevisions.contains(where: { $0.revision >= record.revision }) else {
                throw TallyError.conflict(
                    "catalog revision \(record.revision.rfc3339) is not newer than the newest stored revision; nothing was stored"
                )
            }
            s.catalogRevisions.append(record)
            s.audit.append(audit)
        }
    }

    func organizationIDs() async throws -> [String] { state.withLock { $0.organizations } }
}
