import Logging
import TallyCore
import TallyPrice
import TallyServices
import TallyTestSupport
import Testing

/// The alert rules of issue 18 over real stores: `forecast_overrun` fires once per budget and period, to the budget's
/// channels, resolves when the forecast falls back under and re-arms; `anomaly` fires once per scope and day.
@Suite(.serialized) struct AlertEngineForecastTests {
    static let now = ForecastServiceTests.now

    static func engine<S: TallyStore>(_ store: S) -> AlertEngine<S> {
        AlertEngine(
            store: store,
            budgets: BudgetService(store: store, ledger: LedgerService(store: store, pricer: CatalogPricer())),
            wakeDelivery: {}, logger: Logger(label: "test"), forecasts: ForecastService(store: store))
    }

    static func of(_ type: AlertType, _ alerts: [Alert]) -> [Alert] { alerts.filter { $0.type == type } }

    @Test(arguments: StoreKind.available)
    func anOverrunFiresOnceResolvesAndReArms(kind: StoreKind) async throws {
        try await kind.withStore { try await Self.overrun($0) }
    }

    static func overrun<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        try await ForecastServiceTests.seedFlat(store, org: org.id, project: web, dollars: "10")
        let channel = AlertChannel(
            id: "ch_finance", organizationID: org.id, name: "finance", kind: .email, targets: ["f@example.com"],
            sealedSecret: nil, createdAt: now, updatedAt: now)
        try await store.createAlertChannel(channel, audit: ForecastServiceTests.audit(org.id))
        var budget = ForecastServiceTests.budget(org.id, amount: "100", channels: ["ch_finance"])
        budget.thresholds = [1000]  // Only the forecast speaks here.
        try await store.createBudget(budget, audit: ForecastServiceTests.audit(org.id))
        let engine = engine(store)

        #expect(of(.forecastOverrun, try await engine.evaluate(at: now, dryRun: true)).count == 1)
        let fired = of(.forecastOverrun, try await engine.evaluate(at: now, dryRun: false))
        let alert = try #require(fired.first)
        #expect(fired.count == 1 && alert.dedupeKey == "forecast:\(budget.id):2026-12-01:1")
        #expect(alert.budgetID == budget.id && alert.rule == "forecast_overrun")
        #expect(alert.figures.summary.hasPrefix("Budget 'Search' is forecast to end the month at $"))
        #expect(
            alert.figures.summary.contains("over its $100.00; crossed it on Fri 11 Dec"), "\(alert.figures.summary)")
        #expect(
            try await store.deliveries(organizationID: org.id, alertID: alert.id).map(\.channelID) == ["ch_finance"])
        // Not twice.
        #expect(of(.forecastOverrun, try await engine.evaluate(at: now.adding(seconds: 600), dryRun: false)).isEmpty)

        // The forecast falls back under the amount: the alert resolves; over again, the next one fires.
        budget.amount = USD(decimal: "100000")!
        try await store.updateBudget(budget, audit: ForecastServiceTests.audit(org.id))
        #expect(of(.forecastOverrun, try await engine.evaluate(at: now.adding(seconds: 1200), dryRun: false)).isEmpty)
        #expect(try await store.alert(organizationID: org.id, id: alert.id)?.status == .resolved)
        budget.amount = USD(decimal: "100")!
        try await store.updateBudget(budget, audit: ForecastServiceTests.audit(org.id))
        let again = of(.forecastOverrun, try await engine.evaluate(at: now.adding(seconds: 1800), dryRun: false))
        #expect(again.map(\.dedupeKey) == ["forecast:\(budget.id):2026-12-01:2"])

        // Switched off in the rules: nothing.
        var rules = AlertRules()
        rules.forecastOverrun.enabled = false
        try await store.saveAlertRules(organizationID: org.id, rules, audit: ForecastServiceTests.audit(org.id))
        budget.amount = USD(decimal: "100000")!
        try await store.updateBudget(budget, audit: ForecastServiceTests.audit(org.id))
        #expect(of(.forecastOverrun, try await engine.evaluate(at: now.adding(seconds: 2400), dryRun: false)).isEmpty)
    }

    @Test(arguments: StoreKind.available)
    func yesterdaysAnomalyFiresOncePerScope(kind: StoreKind) async throws {
        try await kind.withStore { try await Self.anomaly($0) }
    }

    static func anomaly<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        try await ForecastServiceTests.seedFlat(store, org: org.id, project: web, dollars: "10")
        var rules = AlertRules()
        rules.spike.enabled = false
        rules.channelIDs = ["ch_ops"]
        try await store.createAlertChannel(
            AlertChannel(
                id: "ch_ops", organizationID: org.id, name: "ops", kind: .email, targets: ["o@example.com"],
                sealedSecret: nil, createdAt: now, updatedAt: now), audit: ForecastServiceTests.audit(org.id))
        try await store.saveAlertRules(organizationID: org.id, rules, audit: ForecastServiceTests.audit(org.id))
        let engine = engine(store)
        #expect(of(.anomaly, try await engine.evaluate(at: now, dryRun: false)).isEmpty)

        _ = try await store.insert([
            EventBatch(
                organizationID: org.id,
                events: [
                    stored(
                        "e-burst", "2026-12-14T15:00:00Z", org: org.id, project: web, model: "gpt-4-turbo",
                        feature: "search", cost: USD(decimal: "200"))
                ])
        ])
        let fired = of(.anomaly, try await engine.evaluate(at: now, dryRun: false))
        let whole = try #require(fired.first { $0.dedupeKey == "anomaly:organization::2026-12-14" })
        #expect(whole.figures.spent == USD(decimal: "210"))
        #expect(
            whole.figures.summary.hasPrefix("Spend of the organization on Mon 14 Dec was $210.00, above its expected"))
        #expect(whole.figures.summary.contains("most from model 'gpt-4-turbo' +$200.00"), "\(whole.figures.summary)")
        #expect(try await store.deliveries(organizationID: org.id, alertID: whole.id).map(\.channelID) == ["ch_ops"])
        let project = try #require(fired.first { $0.dedupeKey == "anomaly:project:\(web.id):2026-12-14" })
        #expect(project.scope == [.project: [web.id]] && project.figures.summary.contains("project 'web'"))
        // Once: later the same day nothing new.
        #expect(of(.anomaly, try await engine.evaluate(at: now.adding(seconds: 3600), dryRun: false)).isEmpty)
    }
}
