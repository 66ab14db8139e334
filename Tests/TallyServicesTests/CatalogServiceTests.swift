import TallyCore
import TallyPrice
import Testing

@testable import TallyServices

/// Catalog updates: read and checked, refused when older, applied (stored + swapped), and picked up by another
/// replica's pricer from the store.
@Suite struct CatalogServiceTests {
    static func file(_ revision: String, input: String = "1.00", model: String = "acme-1") -> [UInt8] {
        Array(
            """
            {"format": 1, "revision": "\(revision)", "entries": [{"id": "openai:\(model):2026-01-01",
              "provider": "openai", "model": "\(model)", "from": "2026-01-01", "source": "https://example.com",
              "prices": {"input": "\(input)", "output": "2.00"}}]}
            """.utf8)
    }

    static func event(_ model: String) -> UsageEvent {
        var e = UsageEvent(
            id: "e", timestamp: Instant(rfc3339: "2026-12-04T10:00:00Z")!, provider: "openai", model: model)
        e.usage.inputTokens = 1_000_000
        return e
    }

    @Test func aMalformedFileNamesTheEntryAndTheField() {
        let bad = Array(
            #"{"revision": "2026-12-03T13:00:00Z", "entries": [{"id": "x:y:z", "model": "y", "from": "2026-01-01", "prices": {"input": "1"}}]}"#
                .utf8)
        #expect(
            throws: TallyError.invalid([
                FieldProblem(field: "entries[0].provider", reason: #"entry "x:y:z": is required"#)
            ])
        ) { try CatalogService<InMemoryStore>.read(bad) }
        #expect(
            throws: TallyError.invalid([
                FieldProblem(field: "catalog", reason: "malformed JSON at byte 0: invalid literal")
            ])
        ) { try CatalogService<InMemoryStore>.read(Array("nope".utf8)) }
    }

    @Test func anOlderRevisionIsRefusedNamingBoth() async throws {
        let service = CatalogService(store: InMemoryStore(), pricer: CatalogPricer())
        await #expect(
            throws: TallyError.conflict(
                "catalog revision 2026-01-01T00:00:00Z is older than the catalog in force, revision "
                    + "2026-12-03T12:00:00Z (built-in); an older catalog is never applied")
        ) { _ = try await service.preview(Self.file("2026-01-01T00:00:00Z"), organizationIDs: ["org_a"]) }
        #expect(try await service.store.newestCatalogRevision(newerThan: nil) == nil)
    }

    /// A revision dated ahead of the clock would, once applied, keep out every real revision until that date: refused,
    /// naming the field; a day of clock skew is tolerated.
    @Test func aRevisionFromTheFutureIsRefused() async throws {
        let service = CatalogService(store: InMemoryStore(), pricer: CatalogPricer())
        await #expect(
            throws: TallyError.invalid([
                FieldProblem(
                    field: "revision",
                    reason: "2999-01-01T00:00:00Z is in the future; a catalog's revision is when it was made")
            ])
        ) { _ = try await service.preview(Self.file("2999-01-01T00:00:00Z"), organizationIDs: ["org_a"]) }
        let skewed = Instant(microseconds: Instant.now.microseconds + 3_600_000_000)
        let update = try await service.preview(Self.file(skewed.rfc3339), organizationIDs: ["org_a"])
        #expect(update.revision == skewed)
        #expect(try await service.store.newestCatalogRevision(newerThan: nil) == nil)
    }

    /// Applied: stored with its SHA-256 and an audit record, priced with at once; the same file again changes
    /// nothing; a changed file under the same revision is refused; another replica switches on its next refresh.
    @Test func applyStoresSwapsAndOtherReplicasFollow() async throws {
        let store = InMemoryStore()
        let service = CatalogService(store: store, pricer: CatalogPricer())
        #expect(service.pricer.quote(Self.event("acme-1"), organizationID: "org_a") == nil)
        let bytes = Self.file("2026-12-03T13:00:00Z")
        let preview = try await service.preview(bytes, organizationIDs: ["org_a"])
        #expect(!preview.applied && preview.diff.added.map(\.entry) == ["openai:acme-1:2026-01-01"])
        #expect(try await store.newestCatalogRevision(newerThan: nil) == nil)
        #expect(service.pricer.quote(Self.event("acme-1"), organizationID: "org_a") == nil)

        let applied = try await service.apply(
            bytes, organizationIDs: ["org_a"], auditOrganizationID: "org_a", actor: "user:ada@example.com")
        #expect(applied.applied && applied.currentRevision == CatalogDocument.builtIn.revision)
        let stored = try #require(try await store.newestCatalogRevision(newerThan: nil))
        #expect(stored.sha256 == CatalogService<InMemoryStore>.sha256(bytes))
        // FIPS 180-2's example: SHA-256("abc").
        #expect(
            CatalogService<InMemoryStore>.sha256(Array("abc".utf8))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(stored.appliedBy == "user:ada@example.com" && Array(stored.document.utf8) == bytes)
        #expect(store.audit.map(\.action) == ["price.catalog"])
        #expect(
            service.pricer.quote(Self.event("acme-1"), organizationID: "org_a")
                == PriceQuote(cost: USD(decimal: "1")!, priceID: "openai:acme-1:2026-01-01"))
        #expect(service.pricer.inForce.origin == .stored)

        let again = try await service.apply(
            bytes, organizationIDs: ["org_a"], auditOrganizationID: "org_a", actor: "user:ada@example.com")
        #expect(!again.applied && again.diff.isEmpty && store.audit.count == 1)
        await #expect(
            throws: TallyError.conflict(
                "catalog revision 2026-12-03T13:00:00Z is the one in force (stored) with other content; "
                    + "give the changed file a newer revision")
        ) {
            _ = try await service.apply(
                Self.file("2026-12-03T13:00:00Z", input: "9"), organizationIDs: [], auditOrganizationID: "org_a",
                actor: "cli")
        }

        let replica = CatalogService(store: store, pricer: CatalogPricer())
        #expect(replica.pricer.quote(Self.event("acme-1"), organizationID: "org_a") == nil)
        #expect(try await replica.loadNewest())
        #expect(replica.pricer.inForce.revision == Instant(rfc3339: "2026-12-03T13:00:00Z"))
        #expect(replica.pricer.quote(Self.event("acme-1"), organizationID: "org_a")?.cost == USD(decimal: "1"))
        #expect(try await replica.loadNewest() == false)
    }

    /// A stored revision older than this binary's own catalog (a newer binary's floor) is not switched to.
    @Test func theBinarysOwnCatalogIsTheFloor() async throws {
        let store = InMemoryStore()
        try await store.addCatalogRevision(
            CatalogRevisionRecord(
                revision: Instant(rfc3339: "2026-01-01T00:00:00Z")!,
                document: String(decoding: Self.file("2026-01-01T00:00:00Z"), as: UTF8.self), sha256: "x",
                appliedAt: .now, appliedBy: "cli"),
            audit: AuditRecord(
                id: "a", organizationID: "org_a", at: .now, actor: "cli", action: "price.catalog", detail: "{}"))
        let service = CatalogService(store: store, pricer: CatalogPricer())
        #expect(try await service.loadNewest() == false)
        #expect(service.pricer.inForce.origin == .builtIn)
    }

    /// Only the organization created first may apply to the instance.
    @Test func theInstanceOrganizationIsTheFirst() async throws {
        let service = CatalogService(store: InMemoryStore(), pricer: CatalogPricer())
        #expect(try await service.isInstanceOrganization("org_a"))
        #expect(try await service.isInstanceOrganization("org_b") == false)
    }
}
