import TallyCore
import TallyServices
import TallyTestSupport
import Testing

/// Retention on both stores (issue 24): raw events before the cut-off go, in chunks, for every organization; the
/// rollups stay, so every summary of whole days (in any time zone with whole-hour offsets) is the same before and
/// after; rollups past their own limit go with their days; the boundary is recorded and only moves forward.
@Suite(.serialized) struct RetentionContractTests {
    @Test(arguments: StoreKind.available)
    func summariesAreUnchangedWhenRawEventsAreTrimmed(kind: StoreKind) async throws {
        try await kind.withStore { store in try await check(store) }
    }

    static func summary(
        _ store: some TallyStore, org: String, _ from: String, _ to: String, zone: String = "UTC",
        grain: TimeGrain? = .day, _ dimensions: [UsageDimension] = [.model]
    ) async throws -> SummaryResult {
        try await store.summary(
            SummaryQuery(
                organizationID: org, from: at(from), to: at(to), timeZone: TimeZoneRules(identifier: zone)!,
                grain: grain, dimensions: dimensions, filters: [:]))
    }

    func check(_ store: some TallyStore) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        let other = Organization(id: "org_other", name: "Other", timeZone: "UTC", createdAt: .now)
        try await store.createOrganization(other)
        let otherProject = try await store.createProject(organizationID: other.id, name: "web")
        // 60 days (October and November 2026), 5 events a day at varied hours and minutes, two models.
        var events: [StoredEvent] = []
        var otherEvents: [StoredEvent] = []
        for day in 0..<60 {
            for k in 0..<5 {
                let month = day < 31 ? "10" : "11"
                let dom = day < 31 ? day + 1 : day - 30
                let time =
                    "2026-\(month)-\(dom < 10 ? "0" : "")\(dom)T\((k * 5 + day) % 24 < 10 ? "0" : "")\((k * 5 + day) % 24):\(10 + k * 9):00Z"
                events.append(
                    stored(
                        "e\(day)-\(k)", time, org: org.id, project: web, model: k % 2 == 0 ? "gpt-4o" : "gpt-4o-mini",
                        input: Int64(100 + day * 10 + k), cost: USD(nanos: Int64(1_000 + day * 100 + k))))
            }
            let dom = day < 31 ? day + 1 : day - 30
            otherEvents.append(
                stored(
                    "o\(day)", "2026-\(day < 31 ? "10" : "11")-\(dom < 10 ? "0" : "")\(dom)T12:00:00Z", org: other.id,
                    project: otherProject))
        }
        _ = try await store.insert([
            EventBatch(organizationID: org.id, events: events),
            EventBatch(organizationID: other.id, events: otherEvents),
        ])
        let queries: [(String, String, String, TimeGrain?, [UsageDimension])] = [
            ("2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z", "UTC", .day, [.model]),
            ("2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z", "UTC", .month, [.project]),
            ("2026-10-05T04:00:00Z", "2026-11-20T05:00:00Z", "America/New_York", .day, [.model]),
            ("2026-09-30T22:00:00Z", "2026-11-30T23:00:00Z", "Europe/Paris", nil, []),
        ]
        var before: [SummaryResult] = []
        for q in queries {
            before.append(try await Self.summary(store, org: org.id, q.0, q.1, zone: q.2, grain: q.3, q.4))
        }
        #expect(before[0].totals.requests == 300)

        // Now 2026-12-01 12:00 UTC, 45 days: raw events before 2026-10-17 go, in chunks of 7.
        let now = at("2026-12-01T12:00:00Z")
        let retention = Retention(store: store, policy: RetentionPolicy(eventDays: 45), chunk: 7)
        let outcome = try await retention.apply(now: now)
        #expect(outcome.boundaries.rawEventsFrom == at("2026-10-17T00:00:00Z"))
        #expect(outcome.eventsDeleted == 16 * 5 + 16, "16 days of both organizations")
        #expect(outcome.rollupRowsDeleted == 0)
        let boundaries = try await store.retentionBoundaries()
        #expect(boundaries.rawEventsFrom == at("2026-10-17T00:00:00Z") && boundaries.rollupsFrom == nil)
        for (q, expected) in zip(queries, before) {
            let after = try await Self.summary(store, org: org.id, q.0, q.1, zone: q.2, grain: q.3, q.4)
            #expect(after == expected, "\(q)")
        }
        let old = try await store.events(EventQuery(organizationID: org.id, to: at("2026-10-17T00:00:00Z")))
        #expect(old.events.isEmpty)
        let kept = try await store.events(
            EventQuery(organizationID: org.id, from: at("2026-10-17T00:00:00Z"), limit: 1000))
        #expect(kept.events.count == 44 * 5)
        let otherKept = try await store.events(EventQuery(organizationID: other.id, limit: 1000))
        #expect(otherKept.events.count == 44)
        // Applying again deletes nothing more; a longer limit later never moves the boundary back.
        #expect(try await retention.apply(now: now).eventsDeleted == 0)
        _ = try await Retention(store: store, policy: RetentionPolicy(eventDays: 90)).apply(now: now)
        #expect(try await store.retentionBoundaries().rawEventsFrom == at("2026-10-17T00:00:00Z"))

        // Rollups past 50 days (before 2026-10-12) go too: those days read empty, the others as before.
        let rollups = try await Retention(store: store, policy: RetentionPolicy(eventDays: 45, rollupDays: 50))
            .apply(now: now)
        #expect(rollups.rollupRowsDeleted > 0 && rollups.boundaries.rollupsFrom == at("2026-10-12T00:00:00Z"))
        let gone = try await Self.summary(store, org: org.id, "2026-10-01T00:00:00Z", "2026-10-12T00:00:00Z")
        #expect(gone.totals.requests == 0)
        let stays = try await Self.summary(store, org: org.id, "2026-10-12T00:00:00Z", "2026-12-01T00:00:00Z")
        let stayed = try await Self.summary(store, org: org.id, "2026-10-12T00:00:00Z", "2026-12-01T00:00:00Z")
        #expect(stays.totals.requests == 49 * 5 && stays == stayed)
        #expect(stays.groups == before[0].groups.filter { ($0.period ?? "") >= "2026-10-12" })
    }
}
