import Logging
import TallyCore
import TallyPrice
import TallyServices
import TallyTestSupport
import Testing

/// Budget thresholds through the real `BudgetService` status over real stores: every threshold reached fires once
/// per period, two crossed between evaluations both fire, a muted or disabled budget fires nothing, the alert goes to
/// the budget's channels, and the budget's status then shows when each threshold fired.
@Suite(.serialized) struct AlertEngineBudgetTests {
    static let now = at("2026-11-27T12:30:00Z")

    static func engine<S: TallyStore>(_ store: S) -> (AlertEngine<S>, BudgetService<S>) {
        let budgets = BudgetService(store: store, ledger: LedgerService(store: store, pricer: CatalogPricer()))
        return (
            AlertEngine(store: store, budgets: budgets, wakeDelivery: {}, logger: Logger(label: "test")), budgets
        )
    }

    static func budget(_ org: String, channels: [String] = [], muted: Instant? = nil) -> Budget {
        Budget(
            id: Identifier.make("bud"), organizationID: org, name: "Monthly", scope: [:], period: .month,
            amount: USD(decimal: "10")!, channelIDs: channels, mutedUntil: muted, createdAt: now, updatedAt: now)
    }

    static func spend<S: TallyStore>(_ store: S, org: String, project: Project, _ dollars: String, at time: String)
        async throws
    {
        _ = try await store.insert([
            EventBatch(
                organizationID: org,
                events: [
                    stored(
                        Identifier.make("ev"), time, org: org, project: project, cost: USD(decimal: dollars))
                ])
        ])
    }

    static func thresholds(_ alerts: [Alert]) -> [Int] {
        alerts.filter { $0.type == .budgetThreshold }.compactMap(\.figures.threshold).sorted()
    }

    @Test(arguments: StoreKind.available)
    func eachThresholdFiresOncePerPeriod(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.oncePerPeriod(store) }
    }

    static func oncePerPeriod<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        let channel = AlertChannel(
            id: "ch_finance", organizationID: org.id, name: "finance", kind: .email, targets: ["f@example.com"],
            sealedSecret: nil, createdAt: now, updatedAt: now)
        try await store.createAlertChannel(
            channel, audit: .make(organizationID: org.id, actor: "t", action: "alert_channel.create"))
        let budget = budget(org.id, channels: ["ch_finance"])
        try await store.createBudget(budget, audit: .make(organizationID: org.id, actor: "t", action: "budget.create"))
        let (engine, budgets) = engine(store)
        var rules = AlertRules()
        rules.spike.enabled = false
        try await store.saveAlertRules(
            organizationID: org.id, rules,
            audit: .make(organizationID: org.id, actor: "t", action: "alert_rules.update"))

        try await spend(store, org: org.id, project: web, "8.50", at: "2026-11-27T09:00:00Z")
        #expect(thresholds(try await engine.evaluate(at: now, dryRun: true)) == [80])
        #expect(try await store.alerts(AlertQuery(organizationID: org.id)).isEmpty)
        let first = try await engine.evaluate(at: now, dryRun: false)
        #expect(thresholds(first) == [80])
        let alert = try #require(first.first)
        #expect(alert.budgetID == budget.id)
        #expect(alert.dedupeKey == "budget:\(budget.id):2026-11-01:80")
        #expect(alert.figures.spent == USD(decimal: "8.5") && alert.figures.amount == USD(decimal: "10"))
        #expect(alert.figures.percent == "85.00")
        #expect(alert.figures.periodStart == at("2026-11-01T00:00:00Z"))
        #expect(alert.figures.periodEnd == at("2026-12-01T00:00:00Z"))
        #expect(
            try await store.deliveries(organizationID: org.id, alertID: alert.id).map(\.channelID) == ["ch_finance"])

        // 95 %: the next evaluation fires 90 only, the one after nothing.
        try await spend(store, org: org.id, project: web, "1.00", at: "2026-11-27T10:00:00Z")
        #expect(thresholds(try await engine.evaluate(at: now, dryRun: false)) == [90])
        #expect(try await engine.evaluate(at: now, dryRun: false).isEmpty)
        let status = try await budgets.status(of: budget, at: now)
        #expect(status.thresholds.map(\.percent) == [80, 90, 100])
        #expect(status.thresholds.map { $0.firedAt != nil } == [true, true, false])

        // The next month is a new period: the thresholds fire again there.
        try await spend(store, org: org.id, project: web, "8.50", at: "2026-12-02T10:00:00Z")
        #expect(thresholds(try await engine.evaluate(at: at("2026-12-02T12:00:00Z"), dryRun: false)) == [80])
    }

    @Test(arguments: StoreKind.available)
    func twoThresholdsCrossedBetweenEvaluationsBothFireOnce(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.twoAtOnce(store) }
    }

    static func twoAtOnce<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        try await store.createBudget(budget(org.id), audit: .make(organizationID: org.id, actor: "t", action: "b"))
        let (engine, _) = engine(store)
        try await spend(store, org: org.id, project: web, "9.50", at: "2026-11-27T09:00:00Z")
        #expect(thresholds(try await engine.evaluate(at: now, dryRun: false)) == [80, 90])
        #expect(thresholds(try await engine.evaluate(at: now, dryRun: false)) == [])
    }

    @Test(arguments: StoreKind.available)
    func mutedAndDisabledBudgetsFireNothing(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.muted(store) }
    }

    static func muted<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        let muted = budget(org.id, muted: now.adding(seconds: 3600))
        try await store.createBudget(muted, audit: .make(organizationID: org.id, actor: "t", action: "b"))
        var disabled = budget(org.id)
        disabled.name = "Disabled"
        disabled.enabled = false
        try await store.createBudget(disabled, audit: .make(organizationID: org.id, actor: "t", action: "b"))
        let (engine, _) = engine(store)
        try await spend(store, org: org.id, project: web, "10.00", at: "2026-11-27T09:00:00Z")
        #expect(thresholds(try await engine.evaluate(at: now, dryRun: false)) == [])
        // Once the mute ends, the thresholds reached in the same period fire; the disabled budget stays silent.
        let after = try await engine.evaluate(at: now.adding(seconds: 3601), dryRun: false)
        #expect(thresholds(after) == [80, 90, 100])
        #expect(Set(after.compactMap(\.budgetID)) == [muted.id])
    }

    /// A custom budget fires only within its own days: after they end its status still shows their final figures,
    /// but no threshold fires from them.
    @Test(arguments: StoreKind.available)
    func aCustomBudgetFiresOnlyWithinItsDays(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.customDays(store) }
    }

    static func customDays<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        var custom = budget(org.id)
        custom.period = .custom
        custom.customFrom = CivilDate(year: 2026, month: 11, day: 1)
        custom.customTo = CivilDate(year: 2026, month: 11, day: 20)
        try await store.createBudget(custom, audit: .make(organizationID: org.id, actor: "t", action: "b"))
        let (engine, _) = engine(store)
        var rules = AlertRules()
        rules.spike.enabled = false
        try await store.saveAlertRules(
            organizationID: org.id, rules, audit: .make(organizationID: org.id, actor: "t", action: "r"))
        try await spend(store, org: org.id, project: web, "9.50", at: "2026-11-10T09:00:00Z")
        // 2026-11-27 is after its days: nothing fires; a day within them fires both thresholds reached.
        #expect(thresholds(try await engine.evaluate(at: now, dryRun: false)) == [])
        #expect(thresholds(try await engine.evaluate(at: at("2026-11-20T23:00:00Z"), dryRun: false)) == [80, 90])
    }

    /// More feature names than a summary can group (ingested by anyone with an ingest key) make the spike rule skip
    /// that dimension only: the budget's thresholds and the other spike scopes still fire.
    @Test(arguments: StoreKind.available)
    func tooManyFeaturesHoldNoBudgetBack(kind: StoreKind) async throws {
        try await kind.withStore { store in try await Self.tooManyFeatures(store) }
    }

    static func tooManyFeatures<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        try await store.createBudget(budget(org.id), audit: .make(organizationID: org.id, actor: "t", action: "b"))
        try await spend(store, org: org.id, project: web, "8.50", at: "2026-11-27T09:00:00Z")
        let features = (0...10_000).map { i in
            stored(
                "f-\(i)", "2026-11-27T10:00:00Z", org: org.id, project: web, feature: "f\(i)",
                cost: USD(decimal: "0.0001"))
        }
        for chunk in stride(from: 0, to: features.count, by: 1000) {
            _ = try await store.insert([
                EventBatch(
                    organizationID: org.id, events: Array(features[chunk..<min(chunk + 1000, features.count)]))
            ])
        }
        let (engine, _) = engine(store)
        let fired = try await engine.evaluate(at: now, dryRun: false)
        #expect(thresholds(fired) == [80, 90])
        let spikes = Set(fired.filter { $0.type == .spike }.map(\.dedupeKey))
        #expect(spikes == ["spike:organization::2026-11-27", "spike:project:\(web.id):2026-11-27"])
    }
}
