import TallyAggregate
import TallyCore
import TallyServices
import TallyStorePostgres
import TallyStoreSQL
import TallyStoreSQLite
import TallyTestSupport
import Testing

/// The performance rollup on both stores (issue 20): every stored event's latency, time to first token and retries
/// land in its hour's histogram in the insert's transaction, duplicates add nothing, and the report's percentiles
/// are the nearest-rank ones within the histogram's error; groups and teams as the summary has them.
@Suite(.serialized) struct PerformanceContractTests {
    @Test(arguments: StoreKind.available)
    func theReportReadsTheHistogramsWrittenWithTheEvents(kind: StoreKind) async throws {
        try await kind.withStore { store in try await check(store) }
    }

    /// Generic, so the service gets the concrete store (an existential cannot stand for its protocols).
    func check(_ store: some TallyStore) async throws {
        do {
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            let api = try await store.createProject(organizationID: org.id, name: "api")
            var events: [StoredEvent] = []
            for i in 0..<100 {
                var e = stored(
                    "p\(i)", "2026-11-20T10:\(i % 60 < 10 ? "0" : "")\(i % 60):00Z", org: org.id,
                    project: i % 4 == 0 ? api : web, model: i % 2 == 0 ? "gpt-4o" : "gpt-4o-mini",
                    status: i % 10 == 0 ? .error : .success)
                e.event.outcome.latencyMs = Int64(100 + 10 * i)  // 100 … 1090 ms
                e.event.outcome.timeToFirstTokenMs = i % 2 == 0 ? Int64(50 + i) : nil
                e.event.outcome.retries = i % 5 == 0 ? 2 : nil
                events.append(e)
            }
            _ = try await store.insert([EventBatch(organizationID: org.id, events: events)])
            // The first ten again: stored already, they add nothing to the histograms.
            _ = try await store.insert([EventBatch(organizationID: org.id, events: Array(events.prefix(10)))])
            let service = PerformanceService(store: store)
            let report = try await service.report(
                organizationID: org.id, from: at("2026-11-20T10:20:00Z"), to: at("2026-11-20T10:40:00Z"),
                dimensions: [], filters: [:])
            // Whole hours: the report covers 10:00-11:00 and every event.
            #expect(report.from == at("2026-11-20T10:00:00Z") && report.to == at("2026-11-20T11:00:00Z"))
            let t = report.totals
            #expect(t.requests == 100 && t.errors == 10 && t.successPercent == "90.0" && t.retries == 40)
            func near(_ got: Int64?, _ exact: Int64) -> Bool {
                guard let got else { return false }
                return (Int128(got) - Int128(exact)).magnitude * 128 <= Int128(exact)
            }
            let latencies = events.map { $0.event.outcome.latencyMs! }.sorted()
            #expect(near(t.latency?.p50, latencies[49]) && near(t.latency?.p95, latencies[94]))
            #expect(near(t.latency?.p99, latencies[98]) && t.latency?.samples == 100)
            #expect(t.timeToFirstToken?.samples == 50 && near(t.timeToFirstToken?.p50, 50 + 48))

            let byModel = try await service.report(
                organizationID: org.id, from: at("2026-11-20T00:00:00Z"), to: at("2026-11-21T00:00:00Z"),
                dimensions: [.model], filters: [.project: [web.id]])
            #expect(byModel.groups.map { $0.values[.model] ?? nil } == ["gpt-4o-mini", "gpt-4o"])
            #expect(byModel.groups.map(\.requests) == [50, 25])
            #expect(byModel.groups[1].timeToFirstToken?.samples == 25 && byModel.groups[0].timeToFirstToken == nil)

            // Teams fold through projects, as in the summary.
            try await store.createTeam(
                Team(
                    id: "team_api", organizationID: org.id, name: "API", projectIDs: [api.id], createdAt: .now,
                    updatedAt: .now),
                audit: .make(organizationID: org.id, actor: "t", action: "team.create"))
            let byTeam = try await service.report(
                organizationID: org.id, from: at("2026-11-20T00:00:00Z"), to: at("2026-11-21T00:00:00Z"),
                dimensions: [.team], filters: [:])
            #expect(Set(byTeam.groups.map { $0.values[.team] ?? nil }) == ["team_api", nil])
            #expect(byTeam.groups.map(\.latency?.samples) == [75, 25])
            // Another organization's events are in none of it.
            let other = try await service.report(
                organizationID: "org_other", from: at("2026-11-20T00:00:00Z"), to: at("2026-11-21T00:00:00Z"),
                dimensions: [], filters: [:])
            #expect(other.totals.requests == 0 && other.totals.latency == nil && other.groups.isEmpty)
        }
    }
}
