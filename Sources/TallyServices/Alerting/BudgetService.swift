import TallyCore

/// Budgets (issue 17): checks what a request asks for, stores it with an audit record, and works out a budget's live
/// figures from the rollups (observed ledger) or the providers' cost reports (provider ledger).
package struct BudgetService<
    Store: BudgetStore & AlertStore & AlertChannelStore & UsageStore & ProjectStore & OrganizationStore
        & ConnectionStore & ProviderSyncStore
>: BudgetStatusSource {
    package let store: Store
    let ledger: LedgerService<Store>

    package init(store: Store, ledger: LedgerService<Store>) {
        self.store = store
        self.ledger = ledger
    }

    // MARK: Reading

    package func list(organizationID: String) async throws -> [Budget] {
        try await store.budgets(organizationID: organizationID)
    }

    /// Another organization's budget is not found, as an unknown one.
    package func find(_ id: String, organizationID: String) async throws -> Budget {
        guard let budget = try await store.budget(organizationID: organizationID, id: id) else {
            throw TallyError.notFound("budget '\(id)'")
        }
        return budget
    }

    /// Project ids to names, for showing a scope as the API speaks it.
    package func projectNames(organizationID: String) async throws -> [String: String] {
        Dictionary(
            try await store.projects(organizationID: organizationID).map { ($0.id, $0.name) },
            uniquingKeysWith: { a, _ in a })
    }

    // MARK: Writing

    package func create(_ draft: BudgetDraft, principal: Principal, now: Instant = .now) async throws -> Budget {
        let budget = try await checked(draft, over: nil, organizationID: principal.organizationID, now: now)
        try await store.createBudget(budget, audit: audit(budget, "budget.create", principal, now))
        return budget
    }

    package func update(_ id: String, _ draft: BudgetDraft, principal: Principal, now: Instant = .now) async throws
        -> Budget
    {
        let current = try await find(id, organizationID: principal.organizationID)
        let budget = try await checked(draft, over: current, organizationID: principal.organizationID, now: now)
        try await store.updateBudget(budget, audit: audit(budget, "budget.update", principal, now))
        return budget
    }

    package func delete(_ id: String, principal: Principal, now: Instant = .now) async throws {
        let budget = try await find(id, organizationID: principal.organizationID)
        try await store.deleteBudget(
            organizationID: principal.organizationID, id: id, audit: audit(budget, "budget.delete", principal, now))
    }

    /// The monthly budget of a project (`GET /api/v1/projects/{id}/budget`): an unknown or foreign project is not
    /// found, and so is a project without one.
    package func projectBudget(projectID: String, organizationID: String) async throws -> Budget {
        _ = try await project(projectID, organizationID: organizationID)
        guard let budget = try await store.projectBudget(organizationID: organizationID, projectID: projectID) else {
            throw TallyError.notFound("a monthly budget of project '\(projectID)'")
        }
        return budget
    }

    /// Sets a project's monthly budget, creating it on first use (then `amount_usd` is required): a budget named
    /// "<project> monthly", scoped to the project, on the observed ledger.
    package func setProjectBudget(
        projectID: String, amount: String?, thresholds: [Int]?, principal: Principal, now: Instant = .now
    ) async throws -> Budget {
        let org = principal.organizationID
        let project = try await project(projectID, organizationID: org)
        let draft = BudgetDraft(amount: amount, thresholds: thresholds)
        if let current = try await store.projectBudget(organizationID: org, projectID: projectID) {
            let budget = try await checked(draft, over: current, organizationID: org, now: now)
            try await store.updateBudget(budget, audit: audit(budget, "budget.update", principal, now))
            return budget
        }
        var first = draft
        first.name = "\(project.name) monthly"
        first.period = BudgetPeriodKind.month.rawValue
        var budget = try await checked(first, over: nil, organizationID: org, now: now)
        budget.scope = [.project: [project.id]]
        budget.projectBudgetOf = project.id
        try await store.createBudget(budget, audit: audit(budget, "budget.create", principal, now))
        return budget
    }

    private func project(_ id: String, organizationID: String) async throws -> Project {
        guard let project = try await store.project(organizationID: organizationID, id: id) else {
            throw TallyError.notFound("project '\(id)'")
        }
        return project
    }

    private func audit(_ b: Budget, _ action: String, _ principal: Principal, _ now: Instant) -> AuditRecord {
        .make(
            organizationID: b.organizationID, actor: principal.actor, action: action,
            detail: [
                ("id", .string(b.id)), ("name", .string(b.name)), ("amount_usd", .string(b.amount.decimalString)),
                ("period", .string(b.period.rawValue)),
            ], at: now)
    }
}
