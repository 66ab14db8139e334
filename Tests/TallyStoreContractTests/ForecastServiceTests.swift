import Logging
import TallyCore
import TallyForecast
import TallyServices
import TallyStoreSQLite
import TallyTestSupport
import Testing

/// `ForecastService` (issue 18) over real stores: a budget's scope, period end and risk, and anomalies with the
/// contributors that explain them. Figures that depend on the engine are checked against the answer's own forecast.
@Suite(.serialized) struct ForecastServiceTests {
    static let now = at("2026-12-15T12:00:00Z")
    static let today = CivilDate(year: 2026, month: 12, day: 15)

    /// `dollars` a day on each of the `days` days before 2026-12-15 (10:00 UTC) and `todaySoFar` this morning.
    static func seedFlat<S: TallyStore>(
        _ store: S, org: String, project: Project, dollars: String, days: Int = 70, todaySoFar: String? = nil,
        model: String = "gpt-4o", feature: String = "search"
    ) async throws {
        var events: [StoredEvent] = []
        for back in 1...days {
            let day = today.addingDays(Int64(-back))
            events.append(
                stored(
                    "e-\(project.name)-\(model)-\(day)", "\(day)T10:00:00Z", org: org, project: project, model: model,
                    feature: feature, cost: USD(decimal: dollars)))
        }
        if let todaySoFar {
            events.append(
                stored(
                    "e-\(project.name)-today", "2026-12-15T08:00:00Z", org: org, project: project, model: model,
                    feature: feature, cost: USD(decimal: todaySoFar)))
        }
        _ = try await store.insert([EventBatch(organizationID: org, events: events)])
    }

    static func budget(
        _ org: String, amount: String, scope: BudgetScope = [:], channels: [String] = [], name: String = "Search"
    ) -> Budget {
        Budget(
            id: Identifier.make("bud"), organizationID: org, name: name, scope: scope, period: .month,
            amount: USD(decimal: amount)!, channelIDs: channels, createdAt: now, updatedAt: now)
    }

    static func audit(_ org: String) -> AuditRecord { .make(organizationID: org, actor: "t", action: "test") }

    @Test(arguments: StoreKind.available)
    func aBudgetTakesItsScopeAndItsPeriodEndsAtSpentPlusForecast(kind: StoreKind) async throws {
        try await kind.withStore { try await Self.budgetScopeAndPeriodEnd($0) }
    }

    static func budgetScopeAndPeriodEnd<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        let other = try await store.createProject(organizationID: org.id, name: "other")
        try await seedFlat(store, org: org.id, project: web, dollars: "10", todaySoFar: "4")
        try await seedFlat(store, org: org.id, project: other, dollars: "5")
        let small = budget(org.id, amount: "100", scope: [.project: [web.id]])
        let large = budget(org.id, amount: "100000", scope: [.project: [web.id]], name: "Roomy")
        try await store.createBudget(small, audit: audit(org.id))
        try await store.createBudget(large, audit: audit(org.id))
        let service = ForecastService(store: store)

        let answer = try await service.forecast(
            ForecastRequest(organizationID: org.id, horizon: 30, budgetID: small.id, now: now))
        // The budget's scope: web alone ($10 a day), not the organization's $15.
        #expect(answer.history.count == ForecastService<S>.historyDays)
        #expect(answer.history.last == DayCost(day: today.addingDays(-1), cost: USD(decimal: "10")!))
        #expect(answer.forecast.count == 30 && answer.forecast.first?.day == today)
        // Today's band is never under what today already cost.
        #expect(answer.spentToday == USD(decimal: "4") && answer.forecast[0].band.p50 >= USD(decimal: "4")!)
        #expect(answer.periodStart == CivilDate(year: 2026, month: 12, day: 1))
        #expect(answer.periodSpent == USD(decimal: "144"))
        // The period end: spent before today plus the cumulative forecast from today to 31 December.
        #expect(answer.periodEnd.day == CivilDate(year: 2026, month: 12, day: 31))
        #expect(answer.periodEnd.band.p50 == USD(decimal: "140")! + answer.forecast[16].cumulative.p50)
        #expect(answer.periodEnd.band.p10 <= answer.periodEnd.band.p50)
        #expect(answer.periodEnd.band.p50 <= answer.periodEnd.band.p90)
        // $140 by the 14th: $100 was crossed on the 11th ($110), four days ago; the risk is high.
        let outlook = try #require(answer.budget)
        #expect(outlook.budget.id == small.id && outlook.risk == .high)
        #expect(outlook.exceedDayP50 == CivilDate(year: 2026, month: 12, day: 11) && outlook.daysUntilExceeded == -4)

        let roomy = try await service.forecast(
            ForecastRequest(organizationID: org.id, horizon: 7, budgetID: large.id, now: now))
        #expect(roomy.budget?.risk == .low && roomy.budget?.exceedDayP50 == nil)
        #expect(roomy.forecast.count == 7)

        // Without a budget: the organization's month, both projects.
        let whole = try await service.forecast(ForecastRequest(organizationID: org.id, now: now))
        #expect(whole.budget == nil && whole.history.last?.cost == USD(decimal: "15"))
        #expect(whole.periodSpent == USD(decimal: "214"))

        // Another organization's budget is not found; a bad horizon is named.
        let stranger = Organization(id: "org_other", name: "Other", timeZone: "UTC", createdAt: now)
        try await store.createOrganization(stranger)
        let theirs = budget(stranger.id, amount: "5")
        try await store.createBudget(theirs, audit: audit(stranger.id))
        await #expect(throws: TallyError.notFound("budget '\(theirs.id)'")) {
            _ = try await service.forecast(ForecastRequest(organizationID: org.id, budgetID: theirs.id, now: now))
        }
        await #expect(throws: TallyError.self) {
            _ = try await service.forecast(ForecastRequest(organizationID: org.id, horizon: 0, now: now))
        }
    }

    /// Risk and the crossing day from a hand-made forecast: exact, whatever the engine.
    @Test func riskLevelsAndTheExceedDay() {
        let today = Self.today
        let zone = TimeZoneRules.utc
        let period = BudgetPeriod(
            firstDay: CivilDate(year: 2026, month: 12, day: 1), lastDay: CivilDate(year: 2026, month: 12, day: 31),
            zone: zone)
        // $10 a day spent from the 1st to the 14th ($140), then a forecast of p10 $5, p50 $10, p90 $20 a day.
        let read = DailySeries(
            start: CivilDate(year: 2026, month: 12, day: 1), values: Array(repeating: USD(decimal: "10")!, count: 15))
        var days: [DayForecast] = []
        for i in 0..<17 {
            func q(_ d: String) -> USD { USD(nanos: USD(decimal: d)!.nanos * Int64(i + 1)) }
            let band = Quantiles(
                p1: .zero, p10: USD(decimal: "5")!, p50: USD(decimal: "10")!, p90: USD(decimal: "20")!,
                p99: USD(decimal: "30")!)
            days.append(
                DayForecast(
                    day: today.addingDays(Int64(i)), band: band,
                    cumulative: Quantiles(p1: .zero, p10: q("5"), p50: q("10"), p90: q("20"), p99: q("30"))))
        }
        let end = ForecastService<SQLiteStore>.periodEnd(period, today: today, read: read, days: days).band
        // 140 + 17 × (5, 10, 20).
        #expect(end.p10 == USD(decimal: "225") && end.p50 == USD(decimal: "310") && end.p90 == USD(decimal: "480"))
        func outlook(_ amount: String) -> BudgetOutlook {
            ForecastService<SQLiteStore>.outlook(
                Self.budget("org_x", amount: amount), period: period, today: today, read: read, days: days, end: end)
        }
        #expect(outlook("480").risk == .low)
        #expect(outlook("479.99").risk == .medium && outlook("310").risk == .medium)
        #expect(outlook("309.99").risk == .high)
        // $250: 140 + 10 × 12 = 260 > 250 on the 12th forecast day, the 26th.
        #expect(outlook("250").exceedDayP50 == CivilDate(year: 2026, month: 12, day: 26))
        #expect(outlook("250").daysUntilExceeded == 11)
        #expect(outlook("1000").exceedDayP50 == nil)
        // Today raised to what it already cost: p10 and p50 to $12, every later cumulative band by as much.
        let raised = ForecastService<SQLiteStore>.raisingToday(days, spentToday: USD(decimal: "12")!)
        #expect(raised[0].band.p10 == USD(decimal: "12") && raised[0].band.p50 == USD(decimal: "12"))
        #expect(raised[0].band.p90 == USD(decimal: "20"))
        #expect(raised[1].cumulative.p50 == USD(decimal: "22") && raised[1].cumulative.p10 == USD(decimal: "17"))
    }

    @Test(arguments: StoreKind.available)
    func anInjectedAnomalyIsFoundWithItsContributorAndQuietDaysAreNot(kind: StoreKind) async throws {
        try await kind.withStore { try await Self.injectedAnomaly($0) }
    }

    static func injectedAnomaly<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        try await seedFlat(store, org: org.id, project: web, dollars: "10")
        let service = ForecastService(store: store)
        let range = AnomalyRequest(
            organizationID: org.id, from: CivilDate(year: 2026, month: 12, day: 1), to: today, now: now)
        #expect(try await service.anomalies(range).isEmpty)

        // $200 more on the 10th, from a model the scope never used.
        _ = try await store.insert([
            EventBatch(
                organizationID: org.id,
                events: [
                    stored(
                        "e-burst", "2026-12-10T15:00:00Z", org: org.id, project: web, model: "gpt-4-turbo",
                        feature: "search", cost: USD(decimal: "200"))
                ])
        ])
        let found = try await service.anomalies(range)
        let day = CivilDate(year: 2026, month: 12, day: 10)
        #expect(found.allSatisfy { $0.day == day }, "\(found.map(\.day))")
        let whole = try #require(found.first { $0.dimension == nil })
        #expect(whole.cost == USD(decimal: "210") && whole.expected.p99 < USD(decimal: "210")!)
        let top = try #require(whole.contributors.first)
        #expect(top.dimension == .model && top.value == "gpt-4-turbo")
        #expect(top.cost == USD(decimal: "200") && top.baseline == .zero && top.delta == USD(decimal: "200"))
        // The project's own anomaly does not name its own dimension among its contributors.
        let project = try #require(found.first { $0.dimension == .project && $0.value == web.id })
        #expect(project.contributors.allSatisfy { $0.dimension != .project })
        // A chart's scope alone, without contributors: the organization's day only.
        var chartOnly = range
        (chartOnly.perValue, chartOnly.explain) = (false, false)
        let organizationOnly = try await service.anomalies(chartOnly)
        #expect(organizationOnly.map(\.day) == [day] && organizationOnly[0].dimension == nil)
        #expect(organizationOnly[0].contributors.isEmpty)
        // Too long a range is refused, naming the field.
        await #expect(
            throws: TallyError.invalid([FieldProblem(field: "from", reason: "the range may span at most 92 days")])
        ) {
            _ = try await service.anomalies(
                AnomalyRequest(organizationID: org.id, from: today.addingDays(-100), to: today, now: now))
        }
    }
}
