import Foundation
import TallyAggregate
import TallyCore
import TallyStoreSQL
import TallyTestSupport
import Testing

/// One contract, both stores: what a `TallyStore` must do.
@Suite(.serialized) struct StoreContractTests {
    @Test(arguments: StoreKind.available)
    func migrationsAreIdempotentAndReadinessReflectsThem(kind: StoreKind) async throws {
        try await kind.withStore { store in
            try await store.migrate()
            #expect(await store.isReady())
            let org = try await store.defaultOrganization(timeZone: "Europe/Berlin")
            let again = try await store.defaultOrganization(timeZone: "UTC")
            #expect(org == again && org.timeZone == "Europe/Berlin")
        }
    }

    @Test(arguments: StoreKind.available)
    func organizationSettingsAreSaved(kind: StoreKind) async throws {
        try await kind.withStore { store in
            var org = try await store.defaultOrganization(timeZone: "UTC")
            #expect(org.billingCycleDay == 1)
            org.name = "Acme"
            org.timeZone = "Asia/Kolkata"
            org.billingCycleDay = 15
            try await store.updateOrganization(org)
            #expect(try await store.organization(id: org.id) == org)
            await #expect(throws: TallyError.self) {
                try await store.updateOrganization(
                    Organization(id: "org_nope", name: "x", timeZone: "UTC", createdAt: .now))
            }
        }
    }

    /// The live events feed reads what was stored after a sequence number, in storage order, scoped and filtered.
    @Test(arguments: StoreKind.available)
    func eventsStoredAfterASequenceComeInStorageOrder(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            #expect(try await store.latestSequence() == 0)
            _ = try await store.insert([
                EventBatch(
                    organizationID: org.id,
                    events: [
                        stored("old", "2026-11-20T10:00:00Z", org: org.id, project: web)
                    ])
            ])
            let start = try await store.latestSequence()
            #expect(start > 0)
            _ = try await store.insert([
                EventBatch(
                    organizationID: org.id,
                    events: [
                        // An older timestamp stored later still counts as new for a live view.
                        stored("b", "2026-11-01T10:00:00Z", org: org.id, project: web, provider: "anthropic"),
                        stored("c", "2026-11-21T10:00:00Z", org: org.id, project: web),
                    ]),
                EventBatch(
                    organizationID: "org_other",
                    events: [stored("x", "2026-11-21T10:00:00Z", org: "org_other", project: web)]),
            ])
            let fresh = try await store.eventsStored(after: start, organizationID: org.id, filters: [:], limit: 10)
            #expect(fresh.map(\.stored.event.id) == ["b", "c"])
            #expect(fresh.map(\.sequence) == fresh.map(\.sequence).sorted() && fresh.allSatisfy { $0.sequence > start })
            let openai = try await store.eventsStored(
                after: start, organizationID: org.id, filters: [.provider: ["openai"]], limit: 10)
            #expect(openai.map(\.stored.event.id) == ["c"])
            #expect(
                try await store.eventsStored(after: start, organizationID: org.id, filters: [:], limit: 1).count == 1)
            #expect(try await store.latestSequence() >= fresh.last!.sequence)
        }
    }

    @Test(arguments: StoreKind.available)
    func projectsAreUniquePerOrganization(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            await #expect(throws: TallyError.self) {
                try await store.createProject(organizationID: org.id, name: "web")
            }
            #expect(try await store.project(organizationID: org.id, name: "web") == web)
            #expect(try await store.project(organizationID: "org_other", name: "web") == nil)
            #expect(try await store.projects(organizationID: org.id).map(\.name) == ["web"])
        }
    }

    @Test(arguments: StoreKind.available)
    func tokensAreFoundByHashAndRevocable(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            let token = APIToken(
                id: "tok_1", organizationID: org.id, projectID: web.id, projectName: "web", name: "ci",
                scopes: [.ingest, .read], hint: "ab12", createdAt: at("2026-11-20T00:00:00Z"))
            try await store.createToken(token, secretHash: "hash1")
            #expect(try await store.token(secretHash: "hash1") == token)
            #expect(try await store.token(secretHash: "nope") == nil)
            await #expect(throws: TallyError.notFound("token 'tok_1'")) {
                try await store.revokeToken(organizationID: "org_other", id: "tok_1", at: .now)
            }
            try await store.revokeToken(organizationID: org.id, id: "tok_1", at: at("2026-11-21T00:00:00Z"))
            #expect(try await store.token(secretHash: "hash1")?.revokedAt == at("2026-11-21T00:00:00Z"))
            try await store.recordTokenUse(id: "tok_1", at: at("2026-11-22T00:00:00Z"))
            #expect(try await store.tokens(organizationID: org.id).first?.lastUsedAt == at("2026-11-22T00:00:00Z"))
        }
    }

    @Test(arguments: StoreKind.available)
    func insertCountsDuplicatesAndRoundTripsEveryField(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            var full = stored(
                "e1", "2026-11-20T10:15:00.123456Z", org: org.id, project: web, cost: USD(decimal: "0.0231"))
            full.event.usage.cachedInputTokens = 40
            full.event.usage.cacheWriteInputTokens = 20
            full.event.usage.cacheWrite1hInputTokens = 5
            full.event.usage.reasoningTokens = 3
            full.event.usage.requests = 2
            full.event.attribution = Attribution(
                project: "web", feature: "f", user: "u", apiKey: "…a1b2", environment: "prod",
                tags: ["a": "1", "b": "x\"y"])
            full.event.outcome.httpStatus = 200
            full.event.outcome.latencyMs = 812
            full.event.outcome.timeToFirstTokenMs = 90
            full.event.outcome.streamed = true
            full.event.outcome.retries = 0
            full.event.outcome.finishReason = "stop"
            full.event.batch = true
            full.event.serviceTier = "flex"
            full.event.providerCost = USD(decimal: "0.02")
            full.event.operation = .embedding
            let outcomes = try await store.insert([
                EventBatch(
                    organizationID: org.id,
                    events: [full, stored("e2", "2026-11-20T11:00:00Z", org: org.id, project: web)]),
                EventBatch(
                    organizationID: org.id, events: [stored("e2", "2026-11-20T11:00:00Z", org: org.id, project: web)]),
            ])
            #expect(outcomes == [InsertOutcome(accepted: 2, duplicates: 0), InsertOutcome(accepted: 0, duplicates: 1)])
            let again = try await store.insert([EventBatch(organizationID: org.id, events: [full])])
            #expect(again == [InsertOutcome(accepted: 0, duplicates: 1)])
            let read = try #require(try await store.event(organizationID: org.id, id: "e1", projectIDs: nil))
            #expect(read.event == full.event)
            #expect(read.cost == full.cost && read.priceID == "test" && read.projectName == "web")
            #expect(try await store.event(organizationID: "org_other", id: "e1", projectIDs: nil) == nil)
            #expect(try await store.event(organizationID: org.id, id: "e1", projectIDs: ["prj_other"]) == nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func eventPagesAreNewestFirstAndComplete(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            // Ten events share one timestamp: the cursor must still page through them without gaps or repeats.
            let events = (0..<25).map { i in
                stored(
                    "e\(i)", i < 10 ? "2026-11-20T10:00:00Z" : "2026-11-20T10:00:\(String(format: "%02d", i))Z",
                    org: org.id, project: web,
                    model: i % 2 == 0 ? "gpt-4o" : "gpt-4o-mini")
            }
            _ = try await store.insert([EventBatch(organizationID: org.id, events: events)])
            var seen: [String] = []
            var query = EventQuery(organizationID: org.id, limit: 7)
            while true {
                let page = try await store.events(query)
                seen += page.events.map(\.event.id)
                guard let next = page.next else { break }
                query.after = next
            }
            #expect(seen.count == 25 && Set(seen).count == 25)
            #expect(seen.first == "e24")
            let minis = try await store.events(
                EventQuery(organizationID: org.id, filters: [.model: ["gpt-4o-mini"]], limit: 100))
            #expect(minis.events.count == 12 && minis.events.allSatisfy { $0.event.model == "gpt-4o-mini" })
            let ranged = try await store.events(
                EventQuery(organizationID: org.id, from: at("2026-11-20T10:00:20Z"), limit: 100))
            #expect(ranged.events.count == 5)
            #expect(try await store.events(EventQuery(organizationID: "org_other")).events.isEmpty)
        }
    }

    /// The summary from rollups equals the same sums computed from the raw events, for every grouping and zone, with
    /// periods named by Foundation's calendar. (Hand-written buckets: `summaryInOtherZonesHasHandWrittenBuckets`.)
    @Test(arguments: StoreKind.available)
    func summaryEqualsSumsOfRawEvents(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            let api = try await store.createProject(organizationID: org.id, name: "api")
            var rng = SplitMix(seed: 42)
            var events: [StoredEvent] = []
            let start = at("2026-11-18T00:00:00Z").microseconds
            for i in 0..<600 {
                let ts = Instant(microseconds: start + Int64(rng.next() % (4 * 86_400_000_000)))
                var e = stored(
                    "e\(i)", ts.rfc3339, org: org.id, project: i % 3 == 0 ? api : web,
                    model: ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"][Int(rng.next() % 3)],
                    provider: ["openai", "anthropic"][Int(rng.next() % 2)], input: Int64(rng.next() % 5000),
                    output: Int64(rng.next() % 900), feature: ["chat", "search", nil][Int(rng.next() % 3)],
                    user: ["u1", "u2", "u3", "u4"][Int(rng.next() % 4)],
                    status: rng.next() % 10 == 0 ? .error : .success,
                    cost: rng.next() % 5 == 0 ? nil : USD(nanos: Int64(rng.next() % 90_000_000)))
                e.event.usage.requests = Int64(1 + rng.next() % 3)
                e.event.operation = [.chat, .embedding, .completion][Int(rng.next() % 3)]
                // Tags to group by (issue 22): a team on most events, a region on some, keys with '.', ':' and '-'.
                if let team = ["red", "blue", nil][Int(rng.next() % 3)] { e.event.attribution.tags["team"] = team }
                if rng.next() % 2 == 0 { e.event.attribution.tags["geo.region:eu-1"] = ["west", "east"][i % 2] }
                events.append(e)
            }
            // Several transactions, as concurrent requests would commit them.
            for chunk in stride(from: 0, to: events.count, by: 150) {
                _ = try await store.insert([
                    EventBatch(organizationID: org.id, events: Array(events[chunk..<min(chunk + 150, events.count)]))
                ])
            }
            let other = try await store.createProject(organizationID: "org_default", name: "noise")
            _ = other
            let cases: [(TimeGrain?, [UsageDimension], DimensionFilters, String, String, String, [String])] = [
                // operation and tags: raw events only (no rollup keeps them), filtered and grouped.
                (.day, [.operation], [:], "2026-11-18T00:00:00Z", "2026-11-22T00:00:00Z", "UTC", []),
                (nil, [.model], [.operation: ["chat"]], "2026-11-18T07:20:00Z", "2026-11-21T13:45:00Z", "UTC", []),
                (nil, [.provider], [:], "2026-11-18T00:00:00Z", "2026-11-22T00:00:00Z", "UTC", ["team"]),
                (
                    .week, [], [:], "2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z", "Asia/Kolkata",
                    ["team", "geo.region:eu-1"]
                ),
                (nil, [], [.operation: ["embedding"]], "2026-11-18T00:00:00Z", "2026-11-22T00:00:00Z", "UTC", ["nope"]),
                (.day, [.model], [:], "2026-11-18T00:00:00Z", "2026-11-22T00:00:00Z", "UTC", []),
                (nil, [.provider, .project], [:], "2026-11-18T07:20:00Z", "2026-11-21T13:45:00Z", "UTC", []),
                (
                    .day, [.feature], [.provider: ["openai"]], "2026-11-18T00:00:00Z", "2026-11-22T00:00:00Z",
                    "Asia/Kolkata", []
                ),
                (.week, [.user], [:], "2026-11-17T00:00:00Z", "2026-11-23T00:00:00Z", "America/New_York", []),
                (
                    .month, [.status, .user, .feature], [.project: [web.id]], "2026-11-01T00:00:00Z",
                    "2026-12-01T00:00:00Z", "UTC", []
                ),
                // Whole UTC days from the daily tables, the hours and minutes around them from hourly and raw.
                (nil, [.model, .feature], [:], "2026-11-17T23:00:00Z", "2026-11-21T10:15:00Z", "Europe/Berlin", []),
                (.month, [.provider], [:], "2026-10-31T04:00:00Z", "2026-11-22T03:30:00Z", "America/New_York", []),
                (.week, [], [.feature: ["chat"]], "2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z", "UTC", []),
                (.day, [.model], [:], "2026-11-18T00:00:00Z", "2026-11-22T00:00:00Z", "Asia/Kolkata", []),
            ]
            for (grain, dims, filters, from, to, zone, tagKeys) in cases {
                let query = SummaryQuery(
                    organizationID: org.id, from: at(from), to: at(to), timeZone: TimeZoneRules(identifier: zone)!,
                    grain: grain, dimensions: dims, filters: filters, tagKeys: tagKeys)
                let result = try await store.summary(query)
                // The expectation: every event in range summed into its group, the period named by Foundation's ISO
                // 8601 calendar (not Tally's TimeZoneRules, PeriodLabel or SummaryAccumulator).
                var expected: [String: UsageMetrics] = [:]
                var expectedTotals = UsageMetrics()
                for e in events where e.event.timestamp >= query.from && e.event.timestamp < query.to {
                    guard filters.allSatisfy({ d, values in values.contains(dimensionValue(d, e) ?? "") }) else {
                        continue
                    }
                    let period = grain.map { calendarLabel(e.event.timestamp, zone: zone, grain: $0) }
                    let values = dims.map { dimensionValue($0, e) } + tagKeys.map { e.event.attribution.tags[$0] }
                    expected[groupKey(period, values), default: UsageMetrics()] += UsageMetrics(e)
                    expectedTotals += UsageMetrics(e)
                }
                var got: [String: UsageMetrics] = [:]
                for g in result.groups {
                    got[groupKey(g.period, dims.map { g.values[$0] ?? nil } + tagKeys.map { g.tags[$0] ?? nil })] =
                        g.metrics
                }
                let label = "\(grain.map(\.rawValue) ?? "-") \(dims) \(tagKeys) \(zone)"
                #expect(got.count == result.groups.count, "a group appears twice: \(label)")
                #expect(got == expected, "\(label)")
                #expect(result.totals == expectedTotals, "\(label)")
                #expect(result.totals.requests > 0)
            }
            let elsewhere = SummaryQuery(
                organizationID: "org_other", from: at("2026-11-01T00:00:00Z"), to: at("2026-12-01T00:00:00Z"),
                timeZone: .utc, grain: nil, dimensions: [], filters: [:])
            #expect(try await store.summary(elsewhere).groups.isEmpty)
        }
    }

    /// Summaries in America/New_York (across both 2026 DST changes and at month ends) and Asia/Kolkata (UTC+05:30:
    /// local midnight at hh:30 UTC, inside a rollup hour) against buckets written by hand. Each scenario has its own
    /// project; an event's input tokens are a power of two, so a bucket's input sum names its events. Every event has
    /// 10 output tokens and costs 1,000 nanos per input token, so a bucket's figures are (n, Σinput, 10·n, 1000·Σinput).
    /// Instants in comments are local times worked out by hand from the published rules: New York is UTC-5 (EST)
    /// until 2026-03-08T07:00Z, UTC-4 (EDT) until 2026-11-01T06:00Z, then UTC-5; Kolkata is UTC+05:30 all year.
    @Test(arguments: StoreKind.available)
    func summaryInOtherZonesHasHandWrittenBuckets(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            var projects: [String: Project] = [:]
            for name in ["ny-spring", "ny-fall", "ny-may", "ny-week", "ny-month", "kolkata-day", "kolkata-month"] {
                projects[name] = try await store.createProject(organizationID: org.id, name: name)
            }
            func ev(
                _ project: String, _ id: String, _ time: String, _ input: Int64, provider: String = "openai",
                feature: String? = nil, user: String? = nil
            ) -> StoredEvent {
                stored(
                    id, time, org: org.id, project: projects[project]!,
                    model: provider == "openai" ? "gpt-4o" : "claude-sonnet-4-5",
                    provider: provider, input: input, output: 10, feature: feature, user: user,
                    cost: USD(nanos: input * 1000))
            }
            let events = [
                // Spring forward: 2026-03-08 is 23 hours long, [05:00Z, next day 04:00Z).
                ev("ny-spring", "s1", "2026-03-08T04:59:59Z", 1),  // 03-07 23:59:59 EST
                ev("ny-spring", "s2", "2026-03-08T05:00:00Z", 2),  // 03-08 00:00 EST
                ev("ny-spring", "s3", "2026-03-08T06:59:59Z", 4),  // 03-08 01:59:59 EST
                ev("ny-spring", "s4", "2026-03-08T07:00:00Z", 8),  // 03-08 03:00 EDT
                ev("ny-spring", "s5", "2026-03-09T03:59:59Z", 16),  // 03-08 23:59:59 EDT
                ev("ny-spring", "s6", "2026-03-09T04:00:00Z", 32),  // 03-09 00:00 EDT
                // Fall back: 2026-11-01 is 25 hours long, [04:00Z, next day 05:00Z); 01:30 happens twice.
                ev("ny-fall", "f1", "2026-11-01T03:59:59Z", 1),  // 10-31 23:59:59 EDT
                ev("ny-fall", "f2", "2026-11-01T04:00:00Z", 2),  // 11-01 00:00 EDT
                ev("ny-fall", "f3", "2026-11-01T05:30:00Z", 4),  // 11-01 01:30 EDT
                ev("ny-fall", "f4", "2026-11-01T06:30:00Z", 8),  // 11-01 01:30 EST
                ev("ny-fall", "f5", "2026-11-02T04:30:00Z", 16),  // 11-01 23:30 EST
                ev("ny-fall", "f6", "2026-11-02T05:00:00Z", 32),  // 11-02 00:00 EST
                // Month end: May 1 begins at 04:00Z.
                ev("ny-may", "a1", "2026-04-30T12:00:00Z", 1),  // 04-30 08:00 EDT
                ev("ny-may", "a2", "2026-05-01T03:30:00Z", 2),  // 04-30 23:30 EDT
                ev("ny-may", "a3", "2026-05-01T04:00:00Z", 4),  // 05-01 00:00 EDT
                ev("ny-may", "a4", "2026-05-01T15:00:00Z", 8),  // 05-01 11:00 EDT
                // Weeks (Monday to Sunday) around the fall-back Sunday, by user.
                ev("ny-week", "w1", "2026-10-26T03:59:00Z", 1, user: "u1"),  // Sun 10-25 23:59 EDT: week of 10-19
                ev("ny-week", "w2", "2026-10-26T04:00:00Z", 2, user: "u1"),  // Mon 10-26 00:00 EDT: week of 10-26
                ev("ny-week", "w3", "2026-11-01T06:30:00Z", 4, user: "u2"),  // Sun 11-01 01:30 EST: week of 10-26
                ev("ny-week", "w4", "2026-11-02T04:30:00Z", 8, user: "u2"),  // Sun 11-01 23:30 EST: week of 10-26
                ev("ny-week", "w5", "2026-11-02T05:00:00Z", 16, user: "u1"),  // Mon 11-02 00:00 EST: week of 11-02
                ev("ny-week", "w6", "2026-11-08T12:00:00Z", 32, user: "u2"),  // Sun 11-08 07:00 EST: week of 11-02
                ev("ny-week", "w7", "2026-11-09T05:00:00Z", 64, user: "u1"),  // Mon 11-09 00:00 EST: after the range
                // Months by provider across October's end and the fall-back.
                ev("ny-month", "n0", "2026-10-31T03:59:00Z", 64),  // before the range
                ev("ny-month", "n1", "2026-10-31T04:00:00Z", 1),  // 10-31 00:00 EDT
                ev("ny-month", "n2", "2026-11-01T03:59:00Z", 2, provider: "anthropic"),  // 10-31 23:59 EDT
                ev("ny-month", "n3", "2026-11-01T04:00:00Z", 4),  // 11-01 00:00 EDT
                ev("ny-month", "n4", "2026-11-15T12:00:00Z", 8, provider: "anthropic"),  // 11-15 07:00 EST
                ev("ny-month", "n5", "2026-11-22T03:29:00Z", 16),  // 11-21 22:29 EST
                ev("ny-month", "n6", "2026-11-22T03:30:00Z", 32),  // the range's end
                // Kolkata days: local midnight is 18:30Z, in the middle of a UTC hour.
                ev("kolkata-day", "k1", "2026-11-18T00:10:00Z", 1, feature: "chat", user: "u1"),  // 11-18 05:40 IST
                ev("kolkata-day", "k2", "2026-11-18T18:29:00Z", 2, feature: "chat", user: "u1"),  // 11-18 23:59
                ev("kolkata-day", "k3", "2026-11-18T18:31:00Z", 4, feature: "search", user: "u2"),  // 11-19 00:01
                ev("kolkata-day", "k4", "2026-11-19T18:30:00Z", 8, user: "u2"),  // 11-20 00:00
                ev("kolkata-day", "k9", "2026-11-19T20:00:00Z", 256, user: "u2"),  // 11-20 01:30, a rollup hour
                // 11-20 17:30
                ev("kolkata-day", "k5", "2026-11-20T12:00:00Z", 16, provider: "anthropic", feature: "chat", user: "u1"),
                ev("kolkata-day", "k6", "2026-11-21T18:29:59Z", 32, feature: "chat", user: "u1"),  // 11-21 23:59:59
                ev("kolkata-day", "k7", "2026-11-21T18:30:00Z", 64, feature: "chat", user: "u2"),  // 11-22 00:00
                ev("kolkata-day", "k8", "2026-11-22T00:00:00Z", 128, feature: "chat", user: "u2"),  // 11-22 05:30
                // Kolkata months: October begins 09-30T18:30Z, November 10-31T18:30Z, December 11-30T18:30Z.
                ev("kolkata-month", "m0", "2026-09-30T18:29:00Z", 1),  // 09-30 23:59 IST
                ev("kolkata-month", "m5", "2026-09-30T18:30:00Z", 2),  // 10-01 00:00
                ev("kolkata-month", "m6", "2026-09-30T21:00:00Z", 64),  // 10-01 02:30, a rollup hour
                ev("kolkata-month", "m3", "2026-10-15T12:00:00Z", 4),  // 10-15 17:30
                ev("kolkata-month", "m1", "2026-10-31T18:29:00Z", 8),  // 10-31 23:59
                ev("kolkata-month", "m2", "2026-10-31T18:31:00Z", 16),  // 11-01 00:01
                ev("kolkata-month", "m4", "2026-11-20T12:00:00Z", 32),  // 11-20 17:30
            ]
            _ = try await store.insert([EventBatch(organizationID: org.id, events: events)])

            func m(_ requests: Int64, input: Int64, output: Int64, cost: Int64) -> UsageMetrics {
                var metrics = UsageMetrics()
                metrics.requests = requests
                metrics.inputTokens = input
                metrics.outputTokens = output
                metrics.cost = USD(nanos: cost)
                return metrics
            }
            func g(_ period: String?, _ values: [UsageDimension: String?], _ metrics: UsageMetrics) -> SummaryGroup {
                SummaryGroup(period: period, values: values, metrics: metrics)
            }
            func g(_ period: String?, _ metrics: UsageMetrics) -> SummaryGroup { g(period, [:], metrics) }
            let newYork = TimeZoneRules(identifier: "America/New_York")!,
                kolkata = TimeZoneRules(identifier: "Asia/Kolkata")!
            let cases:
                [(String, TimeZoneRules, TimeGrain?, [UsageDimension], DimensionFilters, String, String, SummaryResult)] =
                    [
                        (
                            "ny-spring", newYork, .day, [], [:], "2026-03-07T05:00:00Z", "2026-03-10T04:00:00Z",
                            SummaryResult(
                                groups: [
                                    g("2026-03-07", m(1, input: 1, output: 10, cost: 1_000)),
                                    g("2026-03-08", m(4, input: 30, output: 40, cost: 30_000)),
                                    g("2026-03-09", m(1, input: 32, output: 10, cost: 32_000)),
                                ], totals: m(6, input: 63, output: 60, cost: 63_000))
                        ),
                        (
                            "ny-fall", newYork, .day, [], [:], "2026-10-31T04:00:00Z", "2026-11-03T05:00:00Z",
                            SummaryResult(
                                groups: [
                                    g("2026-10-31", m(1, input: 1, output: 10, cost: 1_000)),
                                    g("2026-11-01", m(4, input: 30, output: 40, cost: 30_000)),
                                    g("2026-11-02", m(1, input: 32, output: 10, cost: 32_000)),
                                ], totals: m(6, input: 63, output: 60, cost: 63_000))
                        ),
                        (
                            "ny-may", newYork, .day, [], [:], "2026-04-30T04:00:00Z", "2026-05-02T04:00:00Z",
                            SummaryResult(
                                groups: [
                                    g("2026-04-30", m(2, input: 3, output: 20, cost: 3_000)),
                                    g("2026-05-01", m(2, input: 12, output: 20, cost: 12_000)),
                                ], totals: m(4, input: 15, output: 40, cost: 15_000))
                        ),
                        (
                            "ny-may", newYork, .month, [], [:], "2026-04-01T04:00:00Z", "2026-06-01T04:00:00Z",
                            SummaryResult(
                                groups: [
                                    g("2026-04", m(2, input: 3, output: 20, cost: 3_000)),
                                    g("2026-05", m(2, input: 12, output: 20, cost: 12_000)),
                                ], totals: m(4, input: 15, output: 40, cost: 15_000))
                        ),
                        // From Saturday 10-24 20:00 EDT to Monday 11-09 00:00 EST: user rollups, whole UTC days among them.
                        (
                            "ny-week", newYork, .week, [.user], [:], "2026-10-25T00:00:00Z", "2026-11-09T05:00:00Z",
                            SummaryResult(
                                groups: [
                                    g("2026-10-19", [.user: "u1"], m(1, input: 1, output: 10, cost: 1_000)),
                                    g("2026-10-26", [.user: "u2"], m(2, input: 12, output: 20, cost: 12_000)),
                                    g("2026-10-26", [.user: "u1"], m(1, input: 2, output: 10, cost: 2_000)),
                                    g("2026-11-02", [.user: "u2"], m(1, input: 32, output: 10, cost: 32_000)),
                                    g("2026-11-02", [.user: "u1"], m(1, input: 16, output: 10, cost: 16_000)),
                                ], totals: m(6, input: 63, output: 60, cost: 63_000))
                        ),
                        (
                            "ny-month", newYork, .month, [.provider], [:], "2026-10-31T04:00:00Z",
                            "2026-11-22T03:30:00Z",
                            SummaryResult(
                                groups: [
                                    g("2026-10", [.provider: "anthropic"], m(1, input: 2, output: 10, cost: 2_000)),
                                    g("2026-10", [.provider: "openai"], m(1, input: 1, output: 10, cost: 1_000)),
                                    g("2026-11", [.provider: "openai"], m(2, input: 20, output: 20, cost: 20_000)),
                                    g("2026-11", [.provider: "anthropic"], m(1, input: 8, output: 10, cost: 8_000)),
                                ], totals: m(5, input: 31, output: 50, cost: 31_000))
                        ),
                        // From 11-18 05:30 IST to 11-22 05:30 IST, OpenAI only (k5 is Anthropic's, k8 at the end).
                        (
                            "kolkata-day", kolkata, .day, [.feature], [.provider: ["openai"]], "2026-11-18T00:00:00Z",
                            "2026-11-22T00:00:00Z",
                            SummaryResult(
                                groups: [
                                    g("2026-11-18", [.feature: "chat"], m(2, input: 3, output: 20, cost: 3_000)),
                                    g("2026-11-19", [.feature: "search"], m(1, input: 4, output: 10, cost: 4_000)),
                                    g("2026-11-20", [.feature: nil], m(2, input: 264, output: 20, cost: 264_000)),
                                    g("2026-11-21", [.feature: "chat"], m(1, input: 32, output: 10, cost: 32_000)),
                                    g("2026-11-22", [.feature: "chat"], m(1, input: 64, output: 10, cost: 64_000)),
                                ], totals: m(7, input: 367, output: 70, cost: 367_000))
                        ),
                        // User and feature together: no rollup has both, so every figure comes from raw events.
                        (
                            "kolkata-day", kolkata, .day, [.user, .feature], [:], "2026-11-18T18:00:00Z",
                            "2026-11-21T19:00:00Z",
                            SummaryResult(
                                groups: [
                                    g(
                                        "2026-11-18", [.user: "u1", .feature: "chat"],
                                        m(1, input: 2, output: 10, cost: 2_000)),
                                    g(
                                        "2026-11-19", [.user: "u2", .feature: "search"],
                                        m(1, input: 4, output: 10, cost: 4_000)),
                                    g(
                                        "2026-11-20", [.user: "u2", .feature: nil],
                                        m(2, input: 264, output: 20, cost: 264_000)),
                                    g(
                                        "2026-11-20", [.user: "u1", .feature: "chat"],
                                        m(1, input: 16, output: 10, cost: 16_000)),
                                    g(
                                        "2026-11-21", [.user: "u1", .feature: "chat"],
                                        m(1, input: 32, output: 10, cost: 32_000)),
                                    g(
                                        "2026-11-22", [.user: "u2", .feature: "chat"],
                                        m(1, input: 64, output: 10, cost: 64_000)),
                                ], totals: m(7, input: 382, output: 70, cost: 382_000))
                        ),
                        // From 09-30 23:30 IST to 12-01 00:00 IST: whole UTC days from the daily rollup, the edges raw.
                        (
                            "kolkata-month", kolkata, .month, [], [:], "2026-09-30T18:00:00Z", "2026-11-30T18:30:00Z",
                            SummaryResult(
                                groups: [
                                    g("2026-09", m(1, input: 1, output: 10, cost: 1_000)),
                                    g("2026-10", m(4, input: 78, output: 40, cost: 78_000)),
                                    g("2026-11", m(2, input: 48, output: 20, cost: 48_000)),
                                ], totals: m(7, input: 127, output: 70, cost: 127_000))
                        ),
                    ]
            for (project, zone, grain, dims, filters, from, to, expected) in cases {
                var scoped = filters
                scoped[.project] = [projects[project]!.id]
                let result = try await store.summary(
                    SummaryQuery(
                        organizationID: org.id, from: at(from), to: at(to), timeZone: zone,
                        grain: grain, dimensions: dims, filters: scoped))
                #expect(result == expected, "\(project) \(zone.identifier) \(grain.map(\.rawValue) ?? "-") \(dims)")
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func concurrentWritersKeepTotalsExact(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<8 {
                    group.addTask {
                        for b in 0..<5 {
                            // Writers overlap on ids (w % 4) and on rollup rows (same hour and model).
                            let batch = (0..<20).map { i in
                                stored("w\(w % 4)-\(b)-\(i)", "2026-11-20T10:30:00Z", org: org.id, project: web)
                            }
                            _ = try await store.insert([EventBatch(organizationID: org.id, events: batch)])
                        }
                    }
                }
                try await group.waitForAll()
            }
            let total = try await store.summary(
                SummaryQuery(
                    organizationID: org.id, from: at("2026-11-20T00:00:00Z"), to: at("2026-11-21T00:00:00Z"),
                    timeZone: .utc, grain: nil, dimensions: [], filters: [:])
            ).totals
            #expect(total.requests == 4 * 5 * 20)
            #expect(total.inputTokens == 4 * 5 * 20 * 100)
        }
    }
}

/// An event's value of a dimension as a summary group names it (nil when it has none), written out here rather than
/// taken from the rollup code.
func dimensionValue(_ d: UsageDimension, _ e: StoredEvent) -> String? {
    let value: String?
    switch d {
    case .provider: value = e.event.provider
    case .model: value = e.event.model
    case .project: value = e.projectID
    case .feature: value = e.event.attribution.feature
    case .user: value = e.event.attribution.user
    case .status: value = e.event.outcome.status.rawValue
    case .apiKey: value = e.event.attribution.apiKey
    case .environment: value = e.event.attribution.environment
    case .source: value = e.event.source.rawValue
    case .operation: value = e.event.operation.rawValue
    // These tests make no team: every project is in none (ReportStoreContractTests makes some).
    case .team: value = nil
    }
    return value?.isEmpty == false ? value : nil
}

func groupKey(_ period: String?, _ values: [String?]) -> String {
    ([period ?? "-"] + values.map { $0 ?? "(none)" }).joined(separator: "|")
}

/// The label of the day, week (its Monday) or month an instant falls in, in `zone`, by Foundation's ISO 8601 calendar.
func calendarLabel(_ instant: Instant, zone: String, grain: TimeGrain) -> String {
    var calendar = Calendar(identifier: .iso8601)
    calendar.timeZone = TimeZone(identifier: zone)!
    let date = Date(timeIntervalSince1970: TimeInterval(instant.seconds))
    let start: Date =
        switch grain {
        case .day: date
        case .week: calendar.dateInterval(of: .weekOfYear, for: date)!.start
        case .month: calendar.dateInterval(of: .month, for: date)!.start
        }
    let c = calendar.dateComponents([.year, .month, .day], from: start)
    return grain == .month
        ? String(format: "%04d-%02d", c.year!, c.month!) : String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
