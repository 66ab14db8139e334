import TallyCore
import TallyPrice
import TallyServices
import TallyTestSupport
import Testing

/// `BudgetService` (issue 17) over real stores: what a request may ask for, and a budget's live figures read from the
/// rollups in the organization's time zone.
@Suite(.serialized) struct BudgetServiceTests {
    static func service<S: TallyStore>(_ store: S) -> BudgetService<S> {
        BudgetService(store: store, ledger: LedgerService(store: store, pricer: CatalogPricer()))
    }

    static func admin(_ org: String) -> Principal {
        Principal(
            .user(
                User(id: "usr_a", email: "ada@example.com", name: "Ada", createdAt: .now), .admin,
                Session(
                    id: "ses_a", userID: "usr_a", organizationID: org, csrfToken: "c", createdAt: .now,
                    lastSeenAt: .now)))
    }

    static func fields(_ error: any Error) -> [String] {
        guard case TallyError.invalid(let problems) = error else { return ["not invalid: \(error)"] }
        return problems.map(\.field)
    }

    /// Every problem of a request at once, each naming its field; nothing stored.
    @Test(arguments: StoreKind.available)
    func everyProblemIsNamedAndNothingIsStored(kind: StoreKind) async throws {
        try await kind.withStore { try await Self.everyProblemIsNamedAndNothingIsStored($0) }
    }

    static func everyProblemIsNamedAndNothingIsStored<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let budgets = Self.service(store)
        let draft = BudgetDraft(
            name: "bad\u{0}", scope: [(dimension: "project", values: ["nope"])], period: "custom", to: "2026-13-01",
            amount: "1e999", thresholds: [0, 80], ledger: "observed", channels: ["ch_nope"])
        let error = await #expect(throws: TallyError.self) {
            _ = try await budgets.create(draft, principal: Self.admin(org.id))
        }
        #expect(
            Self.fields(error!) == ["name", "scope.project", "from", "to", "amount_usd", "thresholds", "channels"])
        #expect(try await store.budgets(organizationID: org.id).isEmpty)
        #expect(try await store.auditRecords(organizationID: org.id, limit: 10, before: nil).isEmpty)

        let required = await #expect(throws: TallyError.self) {
            _ = try await budgets.create(BudgetDraft(), principal: Self.admin(org.id))
        }
        #expect(Self.fields(required!) == ["name", "period", "amount_usd"])
        // The providers' cost reports do not split by feature.
        let provider = await #expect(throws: TallyError.self) {
            _ = try await budgets.create(
                BudgetDraft(
                    name: "p", scope: [(dimension: "feature", values: ["chat"])], period: "month", amount: "5",
                    ledger: "provider"), principal: Self.admin(org.id))
        }
        #expect(Self.fields(provider!) == ["scope.feature"])
    }

    /// Projects are given by name and kept by id; the same name in another organization is not found.
    @Test(arguments: StoreKind.available)
    func projectsAreTranslatedToIDsOfTheOrganization(kind: StoreKind) async throws {
        try await kind.withStore { try await Self.projectsAreTranslatedToIDsOfTheOrganization($0) }
    }

    static func projectsAreTranslatedToIDsOfTheOrganization<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let other = Organization(id: "org_other", name: "Other", timeZone: "UTC", createdAt: .now)
        try await store.createOrganization(other)
        let web = try await store.createProject(organizationID: org.id, name: "web")
        _ = try await store.createProject(organizationID: other.id, name: "theirs")
        let budgets = Self.service(store)
        let b = try await budgets.create(
            BudgetDraft(
                name: " Web ", scope: [(dimension: "project", values: ["web", "web"])], period: "week",
                amount: "10.5", thresholds: [100, 50]), principal: Self.admin(org.id))
        #expect(b.name == "Web" && b.scope == [.project: [web.id]] && b.thresholds == [50, 100])
        #expect(b.amount == USD(decimal: "10.5")!)
        let error = await #expect(throws: TallyError.self) {
            _ = try await budgets.update(
                b.id, BudgetDraft(scope: [(dimension: "project", values: ["theirs"])]),
                principal: Self.admin(org.id))
        }
        #expect(Self.fields(error!) == ["scope.project"])
        await #expect(throws: TallyError.notFound("budget '\(b.id)'")) {
            _ = try await budgets.update(b.id, BudgetDraft(amount: "1"), principal: Self.admin(other.id))
        }
        let audit = try await store.auditRecords(organizationID: org.id, limit: 10, before: nil)
        #expect(audit.map(\.action) == ["budget.create"] && audit[0].actor == Self.admin(org.id).actor)
    }

    /// Spend in scope over the period in New York, read at a fixed instant just before a local midnight that is
    /// already the next day in UTC; the percent is exact and truncated.
    @Test(arguments: StoreKind.available)
    func statusCountsTheLocalPeriod(kind: StoreKind) async throws {
        try await kind.withStore { try await Self.statusCountsTheLocalPeriod($0) }
    }

    static func statusCountsTheLocalPeriod<S: TallyStore>(_ store: S) async throws {
        let org = Organization(
            id: "org_ny", name: "NY", timeZone: "America/New_York", createdAt: .now, billingCycleDay: 15)
        try await store.createOrganization(org)
        try await store.updateOrganization(org)  // creation takes the default cycle day
        let web = try await store.createProject(organizationID: org.id, name: "web")
        let dollar = USD(decimal: "1")!
        let events = [
            ("e1", "2026-11-01T03:59:59Z"),  // October 31 locally
            ("e2", "2026-11-01T04:00:00Z"),  // November 1, 00:00 EDT
            ("e3", "2026-11-30T12:00:00Z"),
            ("e4", "2026-12-01T04:59:59Z"),  // November 30, 23:59:59 EST
            ("e5", "2026-12-01T05:00:00Z"),  // December
        ].map { stored($0.0, $0.1, org: org.id, project: web, feature: "chat", cost: dollar) }
        _ = try await store.insert([EventBatch(organizationID: org.id, events: events)])
        _ = try await store.insert([
            EventBatch(
                organizationID: org.id,
                events: [
                    stored("x", "2026-11-30T12:00:00Z", org: org.id, project: web, feature: "other", cost: dollar)
                ])
        ])
        let budgets = Self.service(store)
        let b = try await budgets.create(
            BudgetDraft(
                name: "chat", scope: [(dimension: "feature", values: ["chat"])], period: "month", amount: "3.3"),
            principal: Self.admin(org.id))
        let now = at("2026-12-01T04:30:00Z")
        let status = try await budgets.status(of: b, at: now)
        #expect(status.period == TimeRange(from: at("2026-11-01T04:00:00Z"), to: at("2026-12-01T05:00:00Z")))
        #expect(status.spent == USD(decimal: "3")!)
        #expect(status.percent == "90.90")  // 90.9090…, truncated
        #expect(status.remaining == USD(decimal: "0.3")!)
        #expect(
            status.thresholds.map(\.percent) == [80, 90, 100] && status.thresholds.allSatisfy { $0.firedAt == nil })

        var cycle = b
        cycle.period = .billingCycle
        let cycleStatus = try await budgets.status(of: cycle, at: now)
        #expect(cycleStatus.firstDay == CivilDate(year: 2026, month: 11, day: 15))
        #expect(cycleStatus.spent == USD(decimal: "3")!)
        var over = b
        over.amount = USD(decimal: "2")!
        let overStatus = try await budgets.status(of: over, at: now)
        #expect(overStatus.percent == "150.00" && overStatus.remaining == .zero)
    }

    /// A project's monthly budget is created on first use, then changed; a foreign project is not found.
    @Test(arguments: StoreKind.available)
    func projectBudgets(kind: StoreKind) async throws {
        try await kind.withStore { try await Self.projectBudgets($0) }
    }

    static func projectBudgets<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        let budgets = Self.service(store)
        let admin = Self.admin(org.id)
        await #expect(throws: TallyError.notFound("a monthly budget of project '\(web.id)'")) {
            _ = try await budgets.projectBudget(projectID: web.id, organizationID: org.id)
        }
        let missing = await #expect(throws: TallyError.self) {
            _ = try await budgets.setProjectBudget(
                projectID: web.id, amount: nil, thresholds: [50], principal: admin)
        }
        #expect(Self.fields(missing!) == ["amount_usd"])
        let first = try await budgets.setProjectBudget(
            projectID: web.id, amount: "100", thresholds: nil, principal: admin)
        #expect(first.name == "web monthly" && first.scope == [.project: [web.id]] && first.period == .month)
        let second = try await budgets.setProjectBudget(
            projectID: web.id, amount: nil, thresholds: [70], principal: admin)
        #expect(second.id == first.id && second.amount == first.amount && second.thresholds == [70])
        await #expect(throws: TallyError.notFound("project '\(web.id)'")) {
            _ = try await budgets.setProjectBudget(
                projectID: web.id, amount: "1", thresholds: nil, principal: Self.admin("org_other"))
        }
    }
}

/// Which thresholds fired in the period comes from the stored alerts, by their dedupe key; another period's alert
/// (last month's) does not count.
@Suite(.serialized) struct BudgetFiredThresholdTests {
    @Test(arguments: StoreKind.available)
    func firedAtComesFromTheAlertsOfThisPeriod(kind: StoreKind) async throws {
        try await kind.withStore { try await Self.firedAt($0) }
    }

    static func firedAt<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let budgets = BudgetServiceTests.service(store)
        let b = try await budgets.create(
            BudgetDraft(name: "all", period: "month", amount: "10"), principal: BudgetServiceTests.admin(org.id))
        let now = at("2026-12-10T12:00:00Z")
        let december = at("2026-12-01T00:00:00Z")
        func alert(_ start: Instant, _ threshold: Int, firedAt: Instant) -> Alert {
            Alert(
                id: Identifier.make("al"), organizationID: org.id, type: .budgetThreshold,
                dedupeKey: b.alertKey(firstDay: TimeZoneRules.utc.localDate(of: start), threshold: threshold),
                firedAt: firedAt, budgetID: b.id,
                figures: AlertFigures(summary: "budget \(threshold)"))
        }
        #expect(try await store.recordAlert(alert(december, 80, firedAt: at("2026-12-05T08:00:00Z")), deliveries: []))
        #expect(
            try await store.recordAlert(
                alert(at("2026-11-01T00:00:00Z"), 90, firedAt: at("2026-11-20T00:00:00Z")), deliveries: []))
        let status = try await budgets.status(of: b, at: now)
        #expect(status.thresholds.map(\.percent) == [80, 90, 100])
        #expect(status.thresholds.map(\.firedAt) == [at("2026-12-05T08:00:00Z"), nil, nil])
        // A new time zone moves December's first instant (Tokyo: 2026-11-30T15:00Z), not December: 80 % stays fired.
        var tokyo = try #require(try await store.organization(id: org.id))
        tokyo.timeZone = "Asia/Tokyo"
        try await store.updateOrganization(tokyo)
        let moved = try await budgets.status(of: b, at: now)
        #expect(moved.period.from == at("2026-11-30T15:00:00Z"))
        #expect(moved.thresholds.map(\.firedAt) == [at("2026-12-05T08:00:00Z"), nil, nil])
    }
}
