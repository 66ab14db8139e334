import Logging
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyGateway
@testable import TallyServices

/// The gateway recorder writes many tenants' events in one transaction. One event the database refuses (PostgreSQL and
/// a NUL byte; a total that would overflow, in either store) used to fail that transaction at every flush, forever:
/// no tenant's gateway events were recorded again. Now the batch falls back to one write per event.
@Suite(.serialized) struct GatewayRecorderContractTests {
    @Test(arguments: StoreKind.available)
    func anEventTheStoreRefusesDoesNotHoldBackTheOthers(kind: StoreKind) async throws {
        try await kind.withStore { store in try await check(store, kind) }
    }

    /// Generic, so the recorder gets the store's own type (the existential is opened here).
    func check<Store: TallyStore>(_ store: Store, _ kind: StoreKind) async throws {
        do {
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            let api = try await store.createProject(organizationID: org.id, name: "api")
            // Nine billion dollars already in the 10:00 hour: one more billion there cannot be counted.
            var full: [StoredEvent] = []
            for i in 0..<9 {
                var e = stored("full\(i)", "2026-11-20T10:00:00Z", org: org.id, project: api)
                e.event.providerCost = UsageLimits.maxAmount
                full.append(e)
            }
            for e in full { _ = try await store.insert([EventBatch(organizationID: org.id, events: [e])]) }

            let recorder = GatewayRecorder(store: store, logger: Logger(label: "test"))
            recorder.record(stored("before", "2026-11-20T11:00:00Z", org: org.id, project: web))
            var overflow = stored("overflow", "2026-11-20T10:05:00Z", org: org.id, project: api)
            overflow.event.providerCost = UsageLimits.maxAmount
            recorder.record(overflow)
            if kind == .postgres {
                // What `record` no longer builds (it holds attribution to the API's rules), but a store may still refuse.
                recorder.record(stored("nul", "2026-11-20T11:00:00Z", org: org.id, project: web, user: "\u{0}"))
            }
            recorder.record(stored("after", "2026-11-20T11:00:00Z", org: org.id, project: web))
            await recorder.flush()

            let page = try await store.events(EventQuery(organizationID: org.id, limit: 100))
            let ids = Set(page.events.map(\.event.id))
            #expect(ids.contains("before") && ids.contains("after"), "\(ids.sorted())")
            #expect(!ids.contains("overflow") && !ids.contains("nul"))
            // Given up on, not queued again: the next flush writes nothing and the totals are the nine billions.
            await recorder.flush()
            let day = try await store.summary(
                SummaryQuery(
                    organizationID: org.id, from: at("2026-11-20T00:00:00Z"),
                    to: at("2026-11-21T00:00:00Z"), timeZone: .utc, grain: nil,
                    dimensions: [], filters: [:]))
            #expect(day.totals.providerCost.decimalString == "9000000000" && day.totals.requests == 11)
        }
    }
}
