import Logging
import TallyCore
import TallyPrice
import Testing

@testable import TallyServices

/// TALLY_PRICES_URL's apply step (the fetch itself is held to its limits end to end in e2e/test_prices_update.py):
/// a newer file applies as `url`; a malformed or older one is recorded for /readyz and keeps the catalog; another
/// replica having stored the same revision first is success.
@Suite struct CatalogURLRefresherTests {
    static func refresher(_ store: InMemoryStore) -> CatalogURLRefresher<InMemoryStore> {
        CatalogURLRefresher(
            catalog: CatalogService(store: store, pricer: CatalogPricer()), url: "https://u:p@example.com/c.json?k=1",
            status: CatalogURLStatus(), logger: Logger(label: "test"))
    }

    @Test func aNewerFileAppliesAsURL() async throws {
        let store = InMemoryStore()
        let r = Self.refresher(store)
        await r.apply(CatalogServiceTests.file("2026-12-03T13:00:00Z"))
        #expect(
            r.status.snapshot.error == nil && r.status.snapshot.revision == Instant(rfc3339: "2026-12-03T13:00:00Z"))
        #expect(r.catalog.pricer.inForce.origin == .url)
        #expect(try await store.newestCatalogRevision(newerThan: nil)?.appliedBy == "TALLY_PRICES_URL")
        #expect(store.audit.map(\.organizationID) == ["org_a"])
        // The same file the next day: nothing to do, still fine.
        await r.apply(CatalogServiceTests.file("2026-12-03T13:00:00Z"))
        #expect(r.status.snapshot.error == nil && store.audit.count == 1)
    }

    @Test func malformedAndOlderFilesKeepTheCatalogAndSayWhy() async throws {
        let r = Self.refresher(InMemoryStore())
        await r.apply(CatalogServiceTests.file("2026-12-03T13:00:00Z", input: "free"))
        #expect(
            r.status.snapshot.error
                == #"entries[0].prices.input: entry "openai:acme-1:2026-01-01": must be a decimal string of USD per 1M tokens, such as "2.50""#
        )
        await r.apply(CatalogServiceTests.file("2026-01-01T00:00:00Z"))
        #expect(r.status.snapshot.error?.hasPrefix("catalog revision 2026-01-01T00:00:00Z is older than") == true)
        #expect(r.catalog.pricer.inForce.origin == .builtIn)
    }

    @Test func anotherReplicaStoringItFirstIsSuccess() async throws {
        let store = InMemoryStore()
        let other = CatalogService(store: store, pricer: CatalogPricer())
        let bytes = CatalogServiceTests.file("2026-12-03T13:00:00Z")
        _ = try await other.apply(bytes, organizationIDs: [], auditOrganizationID: "org_a", actor: "TALLY_PRICES_URL")
        let r = Self.refresher(store)
        await r.apply(bytes)
        #expect(r.status.snapshot.error == nil)
        #expect(r.catalog.pricer.inForce.revision == Instant(rfc3339: "2026-12-03T13:00:00Z"))
    }
}
