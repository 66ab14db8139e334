import Logging
import Synchronization
import TallyCore
import TallyServices
import TallyTestSupport
import Testing

/// The alert engine's rules other than budgets (`spike`, `unpriced_model`, `provider_connection`), over real stores:
/// each fires once, a dry run writes nothing, muting and disabling hold them back.
@Suite(.serialized) struct AlertEngineRulesTests {
    /// Counts the deliverer's wake-ups.
    final class Wakes: Sendable {
        let count = Mutex(0)
        var value: Int { count.withLock { $0 } }
    }

    /// A budget source for organizations without budgets: it is never asked.
    struct NoBudgets: BudgetStatusSource {
        func status(of budget: Budget, at now: Instant) async throws -> BudgetStatus {
            Issue.record("asked for the status of budget \(budget.id)")
            throw TallyError.unavailable("no budgets here")
        }
    }

    static func engine<S: AlertEngineStore>(_ store: S, wakes: Wakes) -> AlertEngine<S> {
        AlertEngine(
            store: store, budgets: NoBudgets(), wakeDelivery: { wakes.count.withLock { $0 += 1 } },
            logger: Logger(label: "test"))
    }

    static let now = at("2026-11-27T12:30:00Z")

    /// Priced events: `perDay` dollars on each of the 7 days before 2026-11-27, then `today` dollars on it.
    static func seedSpend<S: TallyStore>(
        _ store: S, org: String, project: Project, perDay: String, today: String, feature: String? = nil
    ) async throws {
        var events: [StoredEvent] = []
        for day in 20...26 {
            events.append(
                stored(
                    "e-\(project.name)-\(day)", "2026-11-\(day)T10:00:00Z", org: org, project: project,
                    feature: feature, cost: USD(decimal: perDay)))
        }
        events.append(
            stored(
                "e-\(project.name)-today", "2026-11-27T09:15:00Z", org: org, project: project, feature: feature,
                cost: USD(decimal: today)))
        _ = try await store.insert([EventBatch(organizationID: org, events: events)])
    }

    @Test(arguments: StoreKind.available)
    func aSpikeFiresOncePerScopeAndADryRunWritesNothing(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.spikeFiresOnce(store) }
    }

    static func spikeFiresOnce<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        let batch = try await store.createProject(organizationID: org.id, name: "batch")
        // web: $1 a day, then $5 today (a spike); batch: $1 a day, then $1.50 today (within the average + floor).
        try await seedSpend(store, org: org.id, project: web, perDay: "1", today: "5", feature: "search")
        try await seedSpend(store, org: org.id, project: batch, perDay: "1", today: "1.5")
        let wakes = Wakes()
        let engine = engine(store, wakes: wakes)

        let preview = try await engine.evaluate(at: now, dryRun: true)
        let expected: Set = [
            "spike:organization::2026-11-27", "spike:project:\(web.id):2026-11-27", "spike:feature:search:2026-11-27",
        ]
        #expect(Set(preview.map(\.dedupeKey)) == expected)
        #expect(try await store.alerts(AlertQuery(organizationID: org.id)).isEmpty)
        #expect(wakes.value == 0)

        let fired = try await engine.evaluate(at: now, dryRun: false)
        #expect(Set(fired.map(\.dedupeKey)) == expected)
        #expect(wakes.value == 1)
        let project = try #require(fired.first { $0.dedupeKey.hasPrefix("spike:project:") })
        #expect(project.scope == [.project: [web.id]])
        #expect(project.figures.spent == USD(decimal: "5"))
        #expect(project.figures.amount == USD(decimal: "1"))
        #expect(project.figures.percent == "500.00")
        #expect(project.figures.threshold == 100)
        #expect(project.figures.periodStart == at("2026-11-27T00:00:00Z"))
        // The key and scope hold the project's id; the sentence a person reads names it.
        #expect(
            project.figures.summary.hasPrefix("Spend of project 'web' today is $5.00"), "\(project.figures.summary)")

        // Later the same day: nothing new.
        #expect(try await engine.evaluate(at: now.adding(seconds: 3600), dryRun: false).isEmpty)
        // The next day spikes again, but within 24 h of yesterday's alerts nothing fires; past 24 h it does.
        _ = try await store.insert([
            EventBatch(
                organizationID: org.id,
                events: [
                    stored(
                        "e-web-28", "2026-11-28T05:00:00Z", org: org.id, project: web, feature: "search",
                        cost: USD(decimal: "10"))
                ])
        ])
        #expect(try await engine.evaluate(at: at("2026-11-28T06:00:00Z"), dryRun: false).isEmpty)
        #expect(try await store.alerts(AlertQuery(organizationID: org.id)).count == 3)
        let nextDay = try await engine.evaluate(at: at("2026-11-28T12:31:00Z"), dryRun: false)
        #expect(
            Set(nextDay.map(\.dedupeKey)) == Set(expected.map { String($0.dropLast(5)) + "11-28" }))
    }

    @Test(arguments: StoreKind.available)
    func mutedOrDisabledRulesFireNothing(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.mutedRules(store) }
    }

    static func mutedRules<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        try await seedSpend(store, org: org.id, project: web, perDay: "1", today: "5")
        _ = try await store.insert([
            EventBatch(
                organizationID: org.id,
                events: [stored("unpriced-1", "2026-11-27T08:00:00Z", org: org.id, project: web, model: "mystery-1")])
        ])
        let engine = engine(store, wakes: Wakes())
        var rules = AlertRules()
        rules.mutedUntil = ["spike": now.adding(seconds: 60)]
        rules.unpricedModel.enabled = false
        try await store.saveAlertRules(
            organizationID: org.id, rules,
            audit: .make(organizationID: org.id, actor: "t", action: "alert_rules.update"))
        #expect(try await engine.evaluate(at: now, dryRun: false).isEmpty)
        // The mute ends: the spike fires; the unpriced model stays off.
        let fired = try await engine.evaluate(at: now.adding(seconds: 61), dryRun: false)
        #expect(fired.allSatisfy { $0.type == .spike } && fired.count == 2)
    }

    @Test(arguments: StoreKind.available)
    func anUnpricedModelFiresOnceWithItsChannels(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.unpricedOnce(store) }
    }

    static func unpricedOnce<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        let channel = AlertChannel(
            id: "ch_ops", organizationID: org.id, name: "ops", kind: .email, targets: ["ops@example.com"],
            sealedSecret: nil, createdAt: now, updatedAt: now)
        try await store.createAlertChannel(
            channel, audit: .make(organizationID: org.id, actor: "t", action: "alert_channel.create"))
        var rules = AlertRules()
        rules.spike.enabled = false
        rules.channelIDs = ["ch_ops"]
        try await store.saveAlertRules(
            organizationID: org.id, rules,
            audit: .make(organizationID: org.id, actor: "t", action: "alert_rules.update"))
        for (i, model) in ["mystery-1", "mystery-1", "gpt-4o"].enumerated() {
            _ = try await store.insert([
                EventBatch(
                    organizationID: org.id,
                    events: [
                        stored(
                            "u-\(i)", "2026-11-27T0\(i):00:00Z", org: org.id, project: web, model: model,
                            cost: model == "gpt-4o" ? USD(decimal: "0.01") : nil)
                    ])
            ])
        }
        let engine = engine(store, wakes: Wakes())
        let fired = try await engine.evaluate(at: now, dryRun: false)
        #expect(fired.map(\.dedupeKey) == ["unpriced:openai:mystery-1"])
        #expect(fired.first?.scope == [.provider: ["openai"], .model: ["mystery-1"]])
        let deliveries = try await store.deliveries(organizationID: org.id, alertID: fired[0].id)
        #expect(deliveries.map(\.channelID) == ["ch_ops"])
        #expect(deliveries.map(\.status) == [.pending])
        #expect(try await engine.evaluate(at: now.adding(seconds: 86_400), dryRun: false).isEmpty)
    }

    @Test(arguments: StoreKind.available)
    func newUnpricedAlertsAreCappedPerEvaluationAndTheRestFireLater(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.unpricedCapped(store) }
    }

    /// 30 invented models: 20 alerts per evaluation (dry run too), the most unpriced requests first, the rest later.
    static func unpricedCapped<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        let models = (0..<29).map { "m-\($0 < 10 ? "0" : "")\($0)" } + ["zz-heavy"]
        let events = (models + ["zz-heavy"]).enumerated().map { i, model in
            stored("c-\(i)", "2026-11-27T08:00:00Z", org: org.id, project: web, model: model, cost: nil)
        }
        _ = try await store.insert([EventBatch(organizationID: org.id, events: events)])
        let engine = engine(store, wakes: Wakes())
        let keys = { (names: [String]) in Set(names.map { "unpriced:openai:\($0)" }) }

        let preview = try await engine.evaluate(at: now, dryRun: true)
        #expect(Set(preview.map(\.dedupeKey)) == keys(["zz-heavy"] + models.prefix(19)))
        let first = try await engine.evaluate(at: now, dryRun: false)
        #expect(Set(first.map(\.dedupeKey)) == keys(["zz-heavy"] + models.prefix(19)))
        let second = try await engine.evaluate(at: now.adding(seconds: 60), dryRun: false)
        #expect(Set(second.map(\.dedupeKey)) == keys(Array(models[19..<29])))
        #expect(try await engine.evaluate(at: now.adding(seconds: 120), dryRun: false).isEmpty)
        #expect(try await store.alerts(AlertQuery(organizationID: org.id, limit: 200)).count == 30)
    }

    @Test(arguments: StoreKind.available)
    func aFailingConnectionFiresOnceUntilItRecovers(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.connectionOnce(store) }
    }

    static func connectionOnce<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let connection = ProviderConnection(
            id: "conn_1", organizationID: org.id, provider: .openai, name: "main", baseURL: nil, apiKey: nil,
            apiKeyMask: nil, adminKey: nil, adminKeyMask: nil, validatedAt: nil, validationError: nil,
            createdAt: now, updatedAt: now)
        try await store.createConnection(
            connection, audit: .make(organizationID: org.id, actor: "t", action: "connection.create"))
        var started = now.adding(seconds: -86_400)
        func run(_ status: SyncRunStatus) async throws -> String {
            started = started.adding(seconds: 600)
            let run = SyncRun(
                id: Identifier.make("run"), organizationID: org.id, connectionID: connection.id, trigger: .schedule,
                from: started, to: started, status: status, startedAt: started, finishedAt: started,
                error: status == .failed ? "HTTP 500 from the provider" : nil)
            try await store.createSyncRun(run)
            return run.id
        }
        let engine = engine(store, wakes: Wakes())
        _ = try await run(.succeeded)
        let first = try await run(.failed)
        _ = try await run(.failed)
        #expect(try await engine.evaluate(at: now, dryRun: false).isEmpty)
        _ = try await run(.failed)
        let fired = try await engine.evaluate(at: now, dryRun: false)
        #expect(fired.map(\.dedupeKey) == ["connection:conn_1:\(first)"])
        #expect(fired.first?.figures.summary.contains("HTTP 500 from the provider") == true)
        _ = try await run(.failed)
        #expect(try await engine.evaluate(at: now, dryRun: false).isEmpty)

        // It recovers: the open alert is resolved; a new streak of three fires again.
        _ = try await run(.succeeded)
        #expect(try await engine.evaluate(at: now, dryRun: false).isEmpty)
        let resolved = try #require(try await store.alert(organizationID: org.id, id: fired[0].id))
        #expect(resolved.status == .resolved)
        let second = try await run(.failed)
        _ = try await run(.failed)
        _ = try await run(.failed)
        #expect(try await engine.evaluate(at: now, dryRun: false).map(\.dedupeKey) == ["connection:conn_1:\(second)"])
    }

    /// A connection and a helper adding its sync runs, each 10 minutes after the one before.
    static func connectionWithRuns<S: TallyStore>(_ store: S, org: String) async throws -> (
        ProviderConnection, (SyncRunStatus) async throws -> String
    ) {
        let connection = ProviderConnection(
            id: "conn_1", organizationID: org, provider: .openai, name: "main", baseURL: nil, apiKey: nil,
            apiKeyMask: nil, adminKey: nil, adminKeyMask: nil, validatedAt: nil, validationError: nil,
            createdAt: now, updatedAt: now)
        try await store.createConnection(
            connection, audit: .make(organizationID: org, actor: "t", action: "connection.create"))
        let runs = Wakes()  // counts the runs added
        return (
            connection,
            { status in
                let count = runs.count.withLock {
                    $0 += 1
                    return $0
                }
                let time = now.adding(seconds: -86_400 + Int64(count) * 600)
                let run = SyncRun(
                    id: Identifier.make("run"), organizationID: org, connectionID: connection.id, trigger: .schedule,
                    from: time, to: time, status: status, startedAt: time, finishedAt: time,
                    error: status == .failed ? "HTTP 500 from the provider" : nil)
                try await store.createSyncRun(run)
                return run.id
            }
        )
    }

    /// A streak longer than the runs read fires once: the streak's first run read moves as runs are added, but the
    /// connection's alert, open or acknowledged, holds every later one back until it recovers.
    @Test(arguments: StoreKind.available)
    func aLongStreakFiresOnceEvenAcknowledged(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.longStreak(store) }
    }

    static func longStreak<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let (_, run) = try await connectionWithRuns(store, org: org.id)
        let engine = engine(store, wakes: Wakes())
        // One more failed run than the engine reads (`AlertEngine.syncRunsRead`, 200).
        for _ in 0...200 { _ = try await run(.failed) }
        let fired = try await engine.evaluate(at: now, dryRun: false)
        #expect(fired.count == 1)
        _ = try await run(.failed)
        #expect(try await engine.evaluate(at: now, dryRun: false).isEmpty)
        let alert = try #require(fired.first)
        try await store.updateAlertStatus(
            organizationID: org.id, id: alert.id, status: .acknowledged, by: "t", at: now, audit: nil)
        _ = try await run(.failed)
        #expect(try await engine.evaluate(at: now, dryRun: false).isEmpty)
        // It recovers: the acknowledged alert is resolved, and a new streak fires.
        _ = try await run(.succeeded)
        #expect(try await engine.evaluate(at: now, dryRun: false).isEmpty)
        #expect(try await store.alert(organizationID: org.id, id: alert.id)?.status == .resolved)
        let first = try await run(.failed)
        _ = try await run(.failed)
        _ = try await run(.failed)
        #expect(try await engine.evaluate(at: now, dryRun: false).map(\.dedupeKey) == ["connection:conn_1:\(first)"])
    }

    /// A refused admin key fires once; after the connection recovers, a later refusal fires again.
    @Test(arguments: StoreKind.available)
    func aRefusedKeyFiresAgainAfterARecovery(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.refusedKey(store) }
    }

    static func refusedKey<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let (created, run) = try await connectionWithRuns(store, org: org.id)
        var connection = created
        let engine = engine(store, wakes: Wakes())
        let before = try await run(.succeeded)
        connection.record(.adminKeyRejected("HTTP 401"), at: now)
        try await store.updateConnection(connection, audit: nil)
        let fired = try await engine.evaluate(at: now, dryRun: false)
        #expect(fired.map(\.dedupeKey) == ["connection:conn_1:key:\(before)"])
        #expect(try await engine.evaluate(at: now, dryRun: false).isEmpty)
        // New keys and a sync that works: resolved. The key is refused again later: a new alert.
        connection.record(.valid, at: now)
        try await store.updateConnection(connection, audit: nil)
        let after = try await run(.succeeded)
        #expect(try await engine.evaluate(at: now, dryRun: false).isEmpty)
        #expect(try await store.alert(organizationID: org.id, id: fired[0].id)?.status == .resolved)
        connection.record(.adminKeyRejected("HTTP 403"), at: now)
        try await store.updateConnection(connection, audit: nil)
        #expect(
            try await engine.evaluate(at: now, dryRun: false).map(\.dedupeKey) == ["connection:conn_1:key:\(after)"])
    }

    /// An organization sees only its own alerts; evaluating one organization touches no other.
    @Test(arguments: StoreKind.available)
    func evaluatingOneOrganizationLeavesOthersAlone(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.oneOrganization(store) }
    }

    static func oneOrganization<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        try await seedSpend(store, org: org.id, project: web, perDay: "1", today: "5")
        let engine = engine(store, wakes: Wakes())
        await #expect(throws: TallyError.notFound("organization 'org_elsewhere'")) {
            try await engine.evaluate(at: now, organizationID: "org_elsewhere", dryRun: false)
        }
        #expect(try await store.alerts(AlertQuery(organizationID: org.id)).isEmpty)
        #expect(try await engine.evaluate(at: now, organizationID: org.id, dryRun: false).count == 2)
    }
}
