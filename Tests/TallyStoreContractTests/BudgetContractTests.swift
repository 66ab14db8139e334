import TallyCore
import TallyTestSupport
import Testing

/// The budgets half of the store contract (issue 17), on both stores.
@Suite(.serialized) struct BudgetContractTests {
    func audit(_ org: String, _ action: String = "budget.create") -> AuditRecord {
        AuditRecord(
            id: Identifier.make("aud"), organizationID: org, at: .now, actor: "user:a@b.c", action: action,
            detail: "{}")
    }

    func budget(_ org: String, _ name: String, id: String = Identifier.make("bud")) -> Budget {
        Budget(
            id: id, organizationID: org, name: name,
            scope: [.project: ["prj_1"], .model: ["gpt-4o", "o3 \"quoted\" ✓"]], period: .custom,
            customFrom: CivilDate(year: 2026, month: 11, day: 30), customTo: CivilDate(year: 2026, month: 12, day: 31),
            amount: USD(decimal: "250.123456789")!, thresholds: [50, 80, 1000], ledger: .provider,
            channelIDs: ["ch_a", "ch_b"], enabled: true, enforce: false,
            mutedUntil: at("2026-12-24T00:00:00.123456Z"), createdAt: at("2026-12-01T10:00:00Z"),
            updatedAt: at("2026-12-01T10:00:00Z"))
    }

    /// Every field comes back exactly as written (amounts to the nano, scope values with quotes and non-ASCII), the
    /// list is ordered by name, and each write leaves an audit record.
    @Test(arguments: StoreKind.available)
    func budgetsRoundTripExactly(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let b = budget(org.id, "Search")
            try await store.createBudget(b, audit: audit(org.id))
            let whole = Budget(
                id: "bud_whole", organizationID: org.id, name: "All", scope: [:], period: .month,
                amount: USD(decimal: "1000")!, createdAt: .now, updatedAt: .now)
            try await store.createBudget(whole, audit: audit(org.id))
            #expect(try await store.budget(organizationID: org.id, id: b.id) == b)
            #expect(try await store.budgets(organizationID: org.id).map(\.name) == ["All", "Search"])
            #expect(try await store.budget(organizationID: org.id, id: "bud_whole")?.scope == [:])
            #expect(try await store.budget(organizationID: org.id, id: "bud_whole")?.thresholds == [80, 90, 100])

            var changed = b
            changed.name = "Search v2"
            changed.scope = [.feature: ["chat"]]
            changed.period = .week
            changed.customFrom = nil
            changed.customTo = nil
            changed.thresholds = [100]
            changed.channelIDs = []
            changed.enabled = false
            changed.mutedUntil = nil
            changed.updatedAt = at("2026-12-02T10:00:00Z")
            changed.createdAt = at("2030-01-01T00:00:00Z")  // ignored: creation is fixed
            try await store.updateBudget(changed, audit: audit(org.id, "budget.update"))
            changed.createdAt = b.createdAt
            #expect(try await store.budget(organizationID: org.id, id: b.id) == changed)
            #expect(try await store.enabledBudgets().map(\.id) == ["bud_whole"])

            try await store.deleteBudget(organizationID: org.id, id: b.id, audit: audit(org.id, "budget.delete"))
            #expect(try await store.budget(organizationID: org.id, id: b.id) == nil)
            let actions = try await store.auditRecords(organizationID: org.id, limit: 10, before: nil).map(\.action)
            #expect(actions.sorted() == ["budget.create", "budget.create", "budget.delete", "budget.update"])
        }
    }

    /// A taken name is a conflict that stores nothing (audit record included), on create and on rename; another
    /// organization may use the same name.
    @Test(arguments: StoreKind.available)
    func aTakenNameIsAConflict(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let other = Organization(id: "org_other", name: "Other", timeZone: "UTC", createdAt: .now)
            try await store.createOrganization(other)
            try await store.createBudget(budget(org.id, "Search"), audit: audit(org.id))
            try await store.createBudget(budget(org.id, "Chat", id: "bud_chat"), audit: audit(org.id))
            await #expect(throws: TallyError.conflict("a budget named 'Search' already exists")) {
                try await store.createBudget(budget(org.id, "Search"), audit: audit(org.id))
            }
            var renamed = budget(org.id, "Search", id: "bud_chat")
            await #expect(throws: TallyError.conflict("a budget named 'Search' already exists")) {
                try await store.updateBudget(renamed, audit: audit(org.id, "budget.update"))
            }
            renamed.name = "Chat"
            #expect(try await store.budget(organizationID: org.id, id: "bud_chat")?.name == "Chat")
            try await store.createBudget(budget(other.id, "Search"), audit: audit(other.id))
            let audits = try await store.auditRecords(organizationID: org.id, limit: 10, before: nil)
            #expect(audits.count == 2)
        }
    }

    /// Another organization's budget is not found by any call: read, update, delete.
    @Test(arguments: StoreKind.available)
    func anotherOrganizationsBudgetIsNotFound(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let other = Organization(id: "org_other", name: "Other", timeZone: "UTC", createdAt: .now)
            try await store.createOrganization(other)
            let theirs = budget(other.id, "Theirs", id: "bud_theirs")
            try await store.createBudget(theirs, audit: audit(other.id))
            #expect(try await store.budget(organizationID: org.id, id: theirs.id) == nil)
            #expect(try await store.budgets(organizationID: org.id).isEmpty)
            var hijack = theirs
            hijack.organizationID = org.id
            hijack.name = "Mine"
            await #expect(throws: TallyError.notFound("budget 'bud_theirs'")) {
                try await store.updateBudget(hijack, audit: audit(org.id, "budget.update"))
            }
            await #expect(throws: TallyError.notFound("budget 'bud_theirs'")) {
                try await store.deleteBudget(organizationID: org.id, id: theirs.id, audit: audit(org.id))
            }
            #expect(try await store.budget(organizationID: other.id, id: theirs.id) == theirs)
            #expect(try await store.auditRecords(organizationID: org.id, limit: 10, before: nil).isEmpty)
        }
    }

    /// A project has at most one monthly budget, found by its project; budgets go with their organization.
    @Test(arguments: StoreKind.available)
    func projectBudgetsAndOrganizationDeletion(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let gone = Organization(id: "org_gone", name: "Gone", timeZone: "UTC", createdAt: .now)
            try await store.createOrganization(gone)
            let web = try await store.createProject(organizationID: gone.id, name: "web")
            var monthly = budget(gone.id, "web monthly", id: "bud_web")
            monthly.projectBudgetOf = web.id
            monthly.period = .month
            monthly.customFrom = nil
            monthly.customTo = nil
            try await store.createBudget(monthly, audit: audit(gone.id))
            #expect(try await store.projectBudget(organizationID: gone.id, projectID: web.id) == monthly)
            #expect(try await store.projectBudget(organizationID: "org_else", projectID: web.id) == nil)
            var second = monthly
            second.id = "bud_web2"
            second.name = "web monthly again"
            await #expect(throws: TallyError.self) { try await store.createBudget(second, audit: audit(gone.id)) }
            try await store.deleteOrganization(id: gone.id)
            #expect(try await store.budgets(organizationID: gone.id).isEmpty)
            #expect(try await store.enabledBudgets().isEmpty)
        }
    }
}
