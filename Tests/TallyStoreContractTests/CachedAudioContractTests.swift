import TallyCore
import TallyStoreSQL
import TallyTestSupport
import Testing

/// `cached_input_audio_tokens`, added by migration 10: both stores keep it on the event, sum it in every rollup (hourly,
/// daily, by user) and from raw events, and keep it on the provider ledger's rows.
@Suite struct CachedAudioContractTests {
    func audio(_ id: String, _ time: String, org: String, project: Project, cachedAudio: Int64, user: String)
        -> StoredEvent
    {
        var s = stored(id, time, org: org, project: project, model: "gpt-realtime-mini", user: user)
        s.event.usage.cachedInputTokens = 60
        s.event.usage.inputAudioTokens = 80
        s.event.usage.cachedInputAudioTokens = cachedAudio
        return s
    }

    func query(_ org: String, _ from: String, _ to: String, grain: TimeGrain? = nil, by: [UsageDimension] = [])
        -> SummaryQuery
    {
        SummaryQuery(
            organizationID: org, from: at(from), to: at(to), timeZone: .utc, grain: grain, dimensions: by,
            filters: [:])
    }

    @Test(arguments: StoreKind.available)
    func theCountRoundTripsAndSumsEverywhere(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            let events = [
                audio("a", "2026-11-20T10:15:00Z", org: org.id, project: web, cachedAudio: 50, user: "ann"),
                audio("b", "2026-11-20T10:45:00Z", org: org.id, project: web, cachedAudio: 7, user: "bob"),
                audio("c", "2026-11-21T09:00:00Z", org: org.id, project: web, cachedAudio: 30, user: "ann"),
            ]
            _ = try await store.insert([EventBatch(organizationID: org.id, events: events)])
            let read = try #require(try await store.event(organizationID: org.id, id: "a", projectIDs: nil))
            #expect(read.event.usage.cachedInputAudioTokens == 50 && read.event.usage == events[0].event.usage)

            // Whole days (daily rollups), whole hours (hourly), part of an hour (raw events), by user (user rollups).
            let days = try await store.summary(
                query(org.id, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", grain: .day))
            #expect(days.totals.cachedInputAudioTokens == 87)
            #expect(days.groups.map(\.metrics.cachedInputAudioTokens) == [57, 30])
            let hour = try await store.summary(query(org.id, "2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"))
            #expect(hour.totals.cachedInputAudioTokens == 57)
            let part = try await store.summary(query(org.id, "2026-11-20T10:30:00Z", "2026-11-20T11:00:00Z"))
            #expect(part.totals.cachedInputAudioTokens == 7)
            let users = try await store.summary(
                query(org.id, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", by: [.user]))
            let byUser = Dictionary(
                uniqueKeysWithValues: users.groups.map { (($0.values[.user] ?? nil) ?? "", $0.metrics) })
            #expect(byUser["ann"]?.cachedInputAudioTokens == 80 && byUser["bob"]?.cachedInputAudioTokens == 7)
            #expect(byUser["ann"]?.inputAudioTokens == 160 && byUser["ann"]?.cachedInputTokens == 120)
        }
    }

    @Test(arguments: StoreKind.available)
    func theProviderLedgerKeepsTheCount(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            var usage = TokenUsage()
            usage.inputTokens = 12000
            usage.cachedInputTokens = 3000
            usage.inputAudioTokens = 3500
            usage.cachedInputAudioTokens = 2000
            usage.requests = 4
            let start = at("2026-11-20T00:00:00Z")
            let end = at("2026-11-21T00:00:00Z")
            let row = ProviderUsageRow(bucketStart: start, bucketEnd: end, model: "gpt-realtime-mini", usage: usage)
            try await store.replaceProviderUsage(
                organizationID: org.id, connectionID: "conn_1", report: .openAICompletions,
                buckets: [
                    ProviderBucket(
                        start: start, end: end,
                        rows: [
                            PricedProviderUsageRow(row: row, cost: nil, priceID: nil),
                            // The same grouping twice in a bucket is summed, the cached audio too.
                            PricedProviderUsageRow(row: row, cost: nil, priceID: nil),
                        ])
                ])
            let rows = try await store.providerUsage(
                organizationID: org.id, connectionID: "conn_1", from: start, to: end)
            #expect(rows.count == 1)
            #expect(rows.first?.row.row.usage.cachedInputAudioTokens == 4000)
            #expect(rows.first?.row.row.usage.inputAudioTokens == 7000)
        }
    }
}
