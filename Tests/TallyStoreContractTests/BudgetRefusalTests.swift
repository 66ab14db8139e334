import TallyCore
import TallyServices
import TallyTestSupport
import Testing

/// What `BudgetService` refuses before storing (review of issue 17), on SQLite and PostgreSQL: malformed channel ids
/// never reach the store, a project's monthly budget keeps its scope and period, and a scope no rollup can answer.
@Suite(.serialized) struct BudgetRefusalTests {
    /// A NUL byte in a channel id is refused naming `channels` (PostgreSQL would fail the lookup with a 5xx).
    @Test(arguments: StoreKind.available)
    func malformedChannelIDsNeverReachTheStore(kind: StoreKind) async throws {
        try await kind.withStore { try await Self.malformedChannelIDs($0) }
    }

    static func malformedChannelIDs<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let budgets = BudgetServiceTests.service(store)
        for channels in [["ch_a\u{0}b"], ["ch_nope", "ch_\u{0}"], ["x\u{0}"], [String(repeating: "c", count: 100)]] {
            let error = await #expect(throws: TallyError.self) {
                _ = try await budgets.create(
                    BudgetDraft(name: "b", period: "month", amount: "5", channels: channels),
                    principal: BudgetServiceTests.admin(org.id))
            }
            #expect(Set(BudgetServiceTests.fields(error!)) == ["channels"])
        }
        #expect(try await store.budgets(organizationID: org.id).isEmpty)
    }

    /// A project token reads its project's monthly budget: its scope and period cannot be changed through
    /// `PATCH /budgets/{id}` (the same values given again are no change); its amount can.
    @Test(arguments: StoreKind.available)
    func aProjectBudgetKeepsItsScopeAndPeriod(kind: StoreKind) async throws {
        try await kind.withStore { try await Self.projectBudgetKeepsScope($0) }
    }

    static func projectBudgetKeepsScope<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let web = try await store.createProject(organizationID: org.id, name: "web")
        _ = try await store.createProject(organizationID: org.id, name: "api")
        let budgets = BudgetServiceTests.service(store)
        let admin = BudgetServiceTests.admin(org.id)
        let b = try await budgets.setProjectBudget(projectID: web.id, amount: "100", thresholds: nil, principal: admin)
        let refused: [(BudgetDraft, [String])] = [
            (BudgetDraft(scope: []), ["scope"]),
            (BudgetDraft(scope: [(dimension: "project", values: ["web", "api"])]), ["scope"]),
            (BudgetDraft(scope: [(dimension: "model", values: ["gpt-4o"])]), ["scope"]),
            (BudgetDraft(period: "week"), ["period"]),
            (BudgetDraft(period: "custom", from: "2026-01-01", to: "2026-12-31"), ["period"]),
        ]
        for (draft, fields) in refused {
            let error = await #expect(throws: TallyError.self) {
                _ = try await budgets.update(b.id, draft, principal: admin)
            }
            #expect(BudgetServiceTests.fields(error!) == fields)
        }
        #expect(try await store.budget(organizationID: org.id, id: b.id) == b)
        let same = try await budgets.update(
            b.id, BudgetDraft(scope: [(dimension: "project", values: ["web"])], period: "month", amount: "120"),
            principal: admin)
        #expect(same.scope == [.project: [web.id]] && same.period == .month && same.amount == USD(decimal: "120")!)
    }

    /// No rollup keeps `user` with `feature` or `api_key`: such an observed budget would scan raw events at every
    /// evaluation, so it is refused naming `scope.user`; `user` with project, provider, model or environment is fine.
    @Test(arguments: StoreKind.available)
    func aScopeNoRollupAnswersIsRefused(kind: StoreKind) async throws {
        try await kind.withStore { try await Self.scopeNoRollupAnswers($0) }
    }

    static func scopeNoRollupAnswers<S: TallyStore>(_ store: S) async throws {
        let org = try await store.defaultOrganization(timeZone: "UTC")
        let budgets = BudgetServiceTests.service(store)
        let admin = BudgetServiceTests.admin(org.id)
        for other in ["feature", "api_key"] {
            let error = await #expect(throws: TallyError.self) {
                _ = try await budgets.create(
                    BudgetDraft(
                        name: "b", scope: [(dimension: "user", values: ["u1"]), (dimension: other, values: ["x"])],
                        period: "month", amount: "5"), principal: admin)
            }
            #expect(BudgetServiceTests.fields(error!) == ["scope.user"])
        }
        #expect(try await store.budgets(organizationID: org.id).isEmpty)
        let fine = try await budgets.create(
            BudgetDraft(
                name: "b",
                scope: [
                    (dimension: "user", values: ["u1"]), (dimension: "model", values: ["gpt-4o"]),
                    (dimension: "environment", values: ["prod"]),
                ], period: "month", amount: "5"), principal: admin)
        // A later change that adds `feature` to that scope is refused the same way.
        let widened = await #expect(throws: TallyError.self) {
            _ = try await budgets.update(
                fine.id,
                BudgetDraft(scope: [(dimension: "user", values: ["u1"]), (dimension: "feature", values: ["chat"])]),
                principal: admin)
        }
        #expect(BudgetServiceTests.fields(widened!) == ["scope.user"])
    }
}
