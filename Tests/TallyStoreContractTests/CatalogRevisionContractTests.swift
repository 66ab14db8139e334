import TallyCore
import TallyTestSupport
import Testing

/// The catalog revisions half of the store contract, on both stores.
@Suite(.serialized) struct CatalogRevisionContractTests {
    func record(_ revision: String, _ document: String, by: String = "cli") -> CatalogRevisionRecord {
        CatalogRevisionRecord(
            revision: at(revision), document: document, sha256: String(repeating: "a", count: 64),
            appliedAt: at("2026-12-03T10:00:00.123456Z"), appliedBy: by)
    }

    func audit(_ org: String) -> AuditRecord {
        AuditRecord(
            id: Identifier.make("aud"), organizationID: org, at: .now, actor: "cli", action: "price.catalog",
            detail: "{}")
    }

    /// Each revision is kept byte for byte and the newest is read back; a caller may ask only for one newer than
    /// the one it has.
    @Test(arguments: StoreKind.available)
    func newestRevisionIsKeptExactly(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            #expect(try await store.newestCatalogRevision(newerThan: nil) == nil)
            let earlier = record("2026-12-04T00:00:00Z", #"{"revision":"2026-12-04T00:00:00Z"}"#, by: "user:a@b.c")
            let later = record("2026-12-05T00:00:00Z", #"{"revision":"2026-12-05T00:00:00Z","note":"é ✓ <b>"}"#)
            try await store.addCatalogRevision(earlier, audit: audit(org.id))
            #expect(try await store.newestCatalogRevision(newerThan: nil) == earlier)
            try await store.addCatalogRevision(later, audit: audit(org.id))
            #expect(try await store.newestCatalogRevision(newerThan: nil) == later)
            #expect(try await store.newestCatalogRevision(newerThan: earlier.revision) == later)
            #expect(try await store.newestCatalogRevision(newerThan: later.revision) == nil)
            let audits = try await store.auditRecords(organizationID: org.id, limit: 10, before: nil)
            #expect(audits.filter { $0.action == "price.catalog" }.count == 2)
        }
    }

    /// The same revision again, or an older one after a newer was stored (an update prepared against an older
    /// catalog, finishing late), is a conflict that stores nothing, audit record included.
    @Test(arguments: StoreKind.available)
    func onlyANewerRevisionIsStored(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            try await store.addCatalogRevision(record("2026-12-05T00:00:00Z", "{}"), audit: audit(org.id))
            for revision in ["2026-12-05T00:00:00Z", "2026-12-04T23:59:59Z"] {
                await #expect(
                    throws: TallyError.conflict(
                        "catalog revision \(revision) is not newer than the newest stored revision; nothing was stored")
                ) {
                    try await store.addCatalogRevision(record(revision, "{ }"), audit: audit(org.id))
                }
            }
            #expect(try await store.newestCatalogRevision(newerThan: nil)?.document == "{}")
            let audits = try await store.auditRecords(organizationID: org.id, limit: 10, before: nil)
            #expect(audits.filter { $0.action == "price.catalog" }.count == 1)
        }
    }

    /// Organizations in the order they were created: the first is the instance's operator.
    @Test(arguments: StoreKind.available)
    func organizationsInCreationOrder(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let first = try await store.defaultOrganization(timeZone: "UTC")
            try await store.createOrganization(
                Organization(id: "org_a", name: "A", timeZone: "UTC", createdAt: first.createdAt.adding(seconds: 60)))
            try await store.createOrganization(
                Organization(id: "org_0", name: "B", timeZone: "UTC", createdAt: first.createdAt.adding(seconds: 30)))
            #expect(try await store.organizationIDs() == [first.id, "org_0", "org_a"])
        }
    }
}
