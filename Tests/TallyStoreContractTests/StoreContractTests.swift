import Foundation
import Logging
import PostgresNIO
import Testing
import TallyAggregate
import TallyCore
import TallyStorePostgres
import TallyStoreSQL
import TallyStoreSQLite

/// The stores under test. PostgreSQL joins when `TALLY_TEST_POSTGRES_URL` names a server (scripts/test starts one).
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }

    static var available: [StoreKind] {
        ProcessInfo.processInfo.environment["TALLY_TEST_POSTGRES_URL"] == nil ? [.sqlite] : [.sqlite, .postgres]
    }

    /// A freshly migrated, empty store: a temp SQLite file, or a new PostgreSQL database.
    func withStore(_ body: @Sendable (any TallyStore) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tally-test-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let store = try SQLiteDatabase.open(path: dir.appendingPathComponent("tally.sqlite").path)
            try await store.migrate()
            try await body(store)
        case .postgres:
            let url = ProcessInfo.processInfo.environment["TALLY_TEST_POSTGRES_URL"]!
            let name = "tally_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            try await Self.withPostgres(url) { admin in _ = try await admin.execute(SQLStatement(.postgres, "CREATE DATABASE \(name)")) }
            var parts = URLComponents(string: url)!
            parts.path = "/" + name
            try await Self.withPostgres(parts.string!) { db in
                let store = SQLStore(db)
                try await store.migrate()
                try await body(store)
            }
            try await Self.withPostgres(url) { admin in _ = try await admin.execute(SQLStatement(.postgres, "DROP DATABASE \(name) WITH (FORCE)")) }
        }
    }

    static func withPostgres(_ url: String, _ body: @Sendable (PostgresSQLDatabase) async throws -> Void) async throws {
        let client = PostgresClient(configuration: try PostgresSQLDatabase.configuration(url: url), backgroundLogger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(PostgresSQLDatabase(client: client, logger: Logger(label: "test")))
        }
    }
}

func at(_ text: String) -> Instant { Instant(rfc3339: text)! }

func stored(_ id: String, _ time: String, org: String, project: Project, model: String = "gpt-4o", provider: String = "openai",
            input: Int64 = 100, output: Int64 = 10, feature: String? = nil, user: String? = nil,
            status: EventStatus = .success, cost: USD? = nil) -> StoredEvent {
    var e = UsageEvent(id: id, timestamp: at(time), provider: provider, model: model)
    e.usage.inputTokens = input
    e.usage.outputTokens = output
    e.attribution.feature = feature
    e.attribution.user = user
    e.outcome.status = status
    return StoredEvent(event: e, organizationID: org, projectID: project.id, projectName: project.name,
                       receivedAt: .now, cost: cost, priceID: cost == nil ? nil : "test")
}

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
                try await store.updateOrganization(Organization(id: "org_nope", name: "x", timeZone: "UTC", createdAt: .now))
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
            _ = try await store.insert([EventBatch(organizationID: org.id, events: [
                stored("old", "2026-11-20T10:00:00Z", org: org.id, project: web),
            ])])
            let start = try await store.latestSequence()
            #expect(start > 0)
            _ = try await store.insert([
                EventBatch(organizationID: org.id, events: [
                    // An older timestamp stored later still counts as new for a live view.
                    stored("b", "2026-11-01T10:00:00Z", org: org.id, project: web, provider: "anthropic"),
                    stored("c", "2026-11-21T10:00:00Z", org: org.id, project: web),
                ]),
                EventBatch(organizationID: "org_other", events: [stored("x", "2026-11-21T10:00:00Z", org: "org_other", project: web)]),
            ])
            let fresh = try await store.eventsStored(after: start, organizationID: org.id, filters: [:], limit: 10)
            #expect(fresh.map(\.stored.event.id) == ["b", "c"])
            #expect(fresh.map(\.sequence) == fresh.map(\.sequence).sorted() && fresh.allSatisfy { $0.sequence > start })
            let openai = try await store.eventsStored(after: start, organizationID: org.id, filters: [.provider: ["openai"]], limit: 10)
            #expect(openai.map(\.stored.event.id) == ["c"])
            #expect(try await store.eventsStored(after: start, organizationID: org.id, filters: [:], limit: 1).count == 1)
            #expect(try await store.latestSequence() >= fresh.last!.sequence)
        }
    }

    @Test(arguments: StoreKind.available)
    func projectsAreUniquePerOrganization(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            await #expect(throws: TallyError.self) { try await store.createProject(organizationID: org.id, name: "web") }
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
            let token = APIToken(id: "tok_1", organizationID: org.id, projectID: web.id, projectName: "web", name: "ci",
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
            var full = stored("e1", "2026-11-20T10:15:00.123456Z", org: org.id, project: web, cost: USD(decimal: "0.0231"))
            full.event.usage.cachedInputTokens = 40
            full.event.usage.cacheWriteInputTokens = 20
            full.event.usage.cacheWrite1hInputTokens = 5
            full.event.usage.reasoningTokens = 3
            full.event.usage.requests = 2
            full.event.attribution = Attribution(project: "web", feature: "f", user: "u", apiKey: "…a1b2", environment: "prod", tags: ["a": "1", "b": "x\"y"])
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
                EventBatch(organizationID: org.id, events: [full, stored("e2", "2026-11-20T11:00:00Z", org: org.id, project: web)]),
                EventBatch(organizationID: org.id, events: [stored("e2", "2026-11-20T11:00:00Z", org: org.id, project: web)]),
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
                stored("e\(i)", i < 10 ? "2026-11-20T10:00:00Z" : "2026-11-20T10:00:\(String(format: "%02d", i))Z", org: org.id, project: web,
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
            let minis = try await store.events(EventQuery(organizationID: org.id, filters: [.model: ["gpt-4o-mini"]], limit: 100))
            #expect(minis.events.count == 12 && minis.events.allSatisfy { $0.event.model == "gpt-4o-mini" })
            let ranged = try await store.events(EventQuery(organizationID: org.id, from: at("2026-11-20T10:00:20Z"), limit: 100))
            #expect(ranged.events.count == 5)
            #expect(try await store.events(EventQuery(organizationID: "org_other")).events.isEmpty)
        }
    }

    /// The summary from rollups equals the same sums computed from the raw events, for every grouping.
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
                var e = stored("e\(i)", ts.rfc3339, org: org.id, project: i % 3 == 0 ? api : web,
                               model: ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"][Int(rng.next() % 3)],
                               provider: ["openai", "anthropic"][Int(rng.next() % 2)], input: Int64(rng.next() % 5000),
                               output: Int64(rng.next() % 900), feature: ["chat", "search", nil][Int(rng.next() % 3)],
                               user: ["u1", "u2", "u3", "u4"][Int(rng.next() % 4)], status: rng.next() % 10 == 0 ? .error : .success,
                               cost: rng.next() % 5 == 0 ? nil : USD(nanos: Int64(rng.next() % 90_000_000)))
                e.event.usage.requests = Int64(1 + rng.next() % 3)
                events.append(e)
            }
            // Several transactions, as concurrent requests would commit them.
            for chunk in stride(from: 0, to: events.count, by: 150) {
                _ = try await store.insert([EventBatch(organizationID: org.id, events: Array(events[chunk..<min(chunk + 150, events.count)]))])
            }
            let other = try await store.createProject(organizationID: "org_default", name: "noise")
            _ = other
            let cases: [(TimeGrain?, [UsageDimension], DimensionFilters, String, String, String)] = [
                (.day, [.model], [:], "2026-11-18T00:00:00Z", "2026-11-22T00:00:00Z", "UTC"),
                (nil, [.provider, .project], [:], "2026-11-18T07:20:00Z", "2026-11-21T13:45:00Z", "UTC"),
                (.day, [.feature], [.provider: ["openai"]], "2026-11-18T00:00:00Z", "2026-11-22T00:00:00Z", "Asia/Kolkata"),
                (.week, [.user], [:], "2026-11-17T00:00:00Z", "2026-11-23T00:00:00Z", "America/New_York"),
                (.month, [.status, .user, .feature], [.project: [web.id]], "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "UTC"),
                // Whole UTC days from the daily tables, the hours and minutes around them from hourly and raw.
                (nil, [.model, .feature], [:], "2026-11-17T23:00:00Z", "2026-11-21T10:15:00Z", "Europe/Berlin"),
                (.month, [.provider], [:], "2026-10-31T04:00:00Z", "2026-11-22T03:30:00Z", "America/New_York"),
                (.week, [], [.feature: ["chat"]], "2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z", "UTC"),
            ]
            for (grain, dims, filters, from, to, zone) in cases {
                let query = SummaryQuery(organizationID: org.id, from: at(from), to: at(to), timeZone: TimeZoneRules(identifier: zone)!,
                                         grain: grain, dimensions: dims, filters: filters)
                let result = try await store.summary(query)
                var expected = SummaryAccumulator(dimensions: dims)
                for e in events where e.event.timestamp >= query.from && e.event.timestamp < query.to {
                    guard filters.allSatisfy({ d, values in values.contains(RollupTable.keyValue(d, of: e)) }) else { continue }
                    let period = grain.map { PeriodLabel.label(query.timeZone.localDate(of: e.event.timestamp), grain: $0) }
                    try expected.add(period: period, values: dims.map { RollupTable.keyValue($0, of: e) }, metrics: UsageMetrics(e))
                }
                #expect(try result == expected.result(), "\(grain.map(\.rawValue) ?? "-") \(dims) \(zone)")
                #expect(result.totals.requests > 0)
            }
            let elsewhere = SummaryQuery(organizationID: "org_other", from: at("2026-11-01T00:00:00Z"), to: at("2026-12-01T00:00:00Z"),
                                         timeZone: .utc, grain: nil, dimensions: [], filters: [:])
            #expect(try await store.summary(elsewhere).groups.isEmpty)
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
                            let batch = (0..<20).map { i in stored("w\(w % 4)-\(b)-\(i)", "2026-11-20T10:30:00Z", org: org.id, project: web) }
                            _ = try await store.insert([EventBatch(organizationID: org.id, events: batch)])
                        }
                    }
                }
                try await group.waitForAll()
            }
            let total = try await store.summary(SummaryQuery(organizationID: org.id, from: at("2026-11-20T00:00:00Z"), to: at("2026-11-21T00:00:00Z"),
                                                             timeZone: .utc, grain: nil, dimensions: [], filters: [:])).totals
            #expect(total.requests == 4 * 5 * 20)
            #expect(total.inputTokens == 4 * 5 * 20 * 100)
        }
    }
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
