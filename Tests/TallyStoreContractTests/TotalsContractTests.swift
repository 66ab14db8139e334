import TallyCore
import TallyStoreSQL
import TallyTestSupport
import Testing

/// Totals that cannot be held in an Int64 (about 9.2 billion USD in nano-dollars, or 9.2·10^18 tokens): both stores
/// refuse the events that would overflow a stored rollup row, answer a summary over such rows with a clear error, and
/// never turn a sum into a float (SQLite did: the organization's summaries then failed with 503 for good).
@Suite(.serialized) struct TotalsContractTests {
    func costly(_ id: String, _ time: String, org: String, project: Project) -> StoredEvent {
        var s = stored(id, time, org: org, project: project)
        s.event.providerCost = UsageLimits.maxAmount
        return s
    }

    func query(_ org: String, _ from: String, _ to: String, dimensions: [UsageDimension] = []) -> SummaryQuery {
        SummaryQuery(
            organizationID: org, from: at(from), to: at(to), timeZone: .utc, grain: nil, dimensions: dimensions,
            filters: [:])
    }

    func field(of error: any Error) -> String? {
        guard case TallyError.totalTooLarge(let problems)? = error as? TallyError else { return nil }
        return problems.first?.field
    }

    @Test(arguments: StoreKind.available)
    func anIncrementThatWouldOverflowARollupIsRefusedAndNothingOfItStored(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            for i in 0..<9 {
                _ = try await store.insert([
                    EventBatch(
                        organizationID: org.id,
                        events: [costly("e\(i)", "2026-11-20T10:00:00Z", org: org.id, project: web)])
                ])
            }
            do {
                _ = try await store.insert([
                    EventBatch(
                        organizationID: org.id,
                        events: [
                            stored("fine", "2026-11-20T11:00:00Z", org: org.id, project: web),
                            costly("e9", "2026-11-20T10:30:00Z", org: org.id, project: web),
                        ])
                ])
                Issue.record("the tenth billion was stored")
            } catch {
                #expect(field(of: error) == "provider_cost_usd", "\(error)")
            }
            // Nothing of the refused batch is stored, and the summary still answers with exact integers.
            let day = try await store.summary(query(org.id, "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"))
            #expect(day.totals.providerCost.decimalString == "9000000000")
            #expect(day.totals.requests == 9)
            let raw = try await store.summary(query(org.id, "2026-11-20T10:00:00Z", "2026-11-20T10:30:00Z"))
            #expect(raw.totals.providerCost.decimalString == "9000000000")
        }
    }

    @Test(arguments: StoreKind.available)
    func aSummaryWhoseTotalCannotBeHeldSaysSoInsteadOfFailing(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            // Nine billion on one day and one on the next: each stored row fits, their sum does not.
            let events =
                (0..<9).map { costly("a\($0)", "2026-11-20T10:00:00Z", org: org.id, project: web) }
                + [costly("b", "2026-11-21T10:00:00Z", org: org.id, project: web)]
            for e in events { _ = try await store.insert([EventBatch(organizationID: org.id, events: [e])]) }
            for (from, to) in [
                ("2026-11-20T00:00:00Z", "2026-11-22T00:00:00Z"), ("2026-11-20T09:30:00Z", "2026-11-21T10:30:00Z"),
            ] {
                do {
                    _ = try await store.summary(query(org.id, from, to))
                    Issue.record("a total past Int64 was answered")
                } catch {
                    #expect(field(of: error) == "provider_cost_usd", "\(error)")
                }
            }
            // Split by day each group fits, but the totals still do not: the answer asks for a shorter range.
            var byDay = query(org.id, "2026-11-20T00:00:00Z", "2026-11-22T00:00:00Z")
            byDay.grain = .day
            await #expect(throws: TallyError.self) { try await store.summary(byDay) }
            let second = try await store.summary(query(org.id, "2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z"))
            #expect(second.totals.providerCost == UsageLimits.maxAmount)
        }
    }

    @Test(arguments: StoreKind.available)
    func aSummaryOfMoreThanTenThousandGroupsIsRefused(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            let events = (0...10_000).map {
                stored("u\($0)", "2026-11-20T10:00:00Z", org: org.id, project: web, user: "user-\($0)")
            }
            _ = try await store.insert([EventBatch(organizationID: org.id, events: events)])
            for (from, to) in [
                ("2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"), ("2026-11-20T09:59:00Z", "2026-11-20T10:01:00Z"),
            ] {
                await #expect(throws: TallyError.tooManyGroups(limit: 10_000)) {
                    try await store.summary(query(org.id, from, to, dimensions: [.user]))
                }
            }
            let byModel = try await store.summary(
                query(org.id, "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", dimensions: [.model]))
            #expect(byModel.groups.count == 1 && byModel.totals.requests == 10_001)
        }
    }
}
