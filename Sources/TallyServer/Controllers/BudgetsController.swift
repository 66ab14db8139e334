import Hummingbird
import TallyCore
import TallyHTTP
import TallyServices

/// Budgets (issue 17): viewers read them, admins write them; each answer carries the budget's live status.
struct BudgetsController<Store: TallyStore> {
    let auth: Authenticator<Store>
    let budgets: BudgetService<Store>
    /// The gateway guard's counters (issue 19), for a budget's open reservations (`reserved_usd`); nil: none shown.
    var guardCounters: (any GuardCounterStore)? = nil
    /// Told the organization whose budgets changed (the gateway guard reloads them at once, not after its cache's 2 s).
    var changed: @Sendable (_ organizationID: String) -> Void = { _ in }

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("budgets", use: list)
        group.post("budgets", use: create)
        group.get("budgets/:id", use: show)
        group.patch("budgets/:id", use: update)
        group.delete("budgets/:id", use: delete)
        group.get("projects/:id/budget", use: projectBudget)
        group.patch("projects/:id/budget", use: setProjectBudget)
    }

    /// A token limited to its project sees the budgets scoped to that project only.
    static func visible(_ b: Budget, to principal: Principal) -> Bool {
        guard let allowed = principal.projectScope else { return true }
        guard let projects = b.scope[.project], !projects.isEmpty else { return false }
        return projects.allSatisfy(allowed.contains)
    }

    private func answer(_ b: Budget, _ principal: Principal, status: HTTPResponse.Status = .ok) async throws -> Response
    {
        let now = Instant.now
        let figures = try await budgets.status(of: b, at: now)
        let names = try await budgets.projectNames(organizationID: principal.organizationID)
        let reserved = try await reservations([(b, figures)], organizationID: principal.organizationID)
        return .json(
            BudgetJSON.budget(b, status: figures, projects: names, reserved: reserved[b.id] ?? .zero), status: status)
    }

    /// What the gateway's calls in flight hold of each budget's current period, in one read of the counters.
    private func reservations(_ rows: [(budget: Budget, status: BudgetStatus)], organizationID: String) async throws
        -> [String: USD]
    {
        guard let guardCounters, !rows.isEmpty else { return [:] }
        let keys = rows.map { GuardKeys.budget($0.budget.id, firstDay: $0.status.firstDay) }
        let counters = try await guardCounters.guardCounters(organizationID: organizationID, keys: keys)
        var out: [String: USD] = [:]
        for (row, key) in zip(rows, keys) {
            if let reserved = counters[key]?.reserved, reserved > 0 { out[row.budget.id] = USD(nanos: reserved) }
        }
        return out
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readUsage, request)
        let org = principal.organizationID
        let all = try await budgets.list(organizationID: org).filter { Self.visible($0, to: principal) }
        let rows = try await budgets.withStatus(all, organizationID: org, at: .now)
        let names = try await budgets.projectNames(organizationID: org)
        let reserved = try await reservations(rows, organizationID: org)
        return .json(
            ListJSON.list(rows) {
                BudgetJSON.write(
                    $0.budget, status: $0.status, projects: names, reserved: reserved[$0.budget.id] ?? .zero, into: &$1)
            })
    }

    @Sendable func create(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let draft = try BudgetDraft(json: try await JSONBody.read(request))
        let created = try await budgets.create(draft, principal: principal)
        changed(principal.organizationID)
        return try await answer(created, principal, status: .created)
    }

    @Sendable func show(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readUsage, request)
        let id = try context.parameters.require("id")
        let b = try await budgets.find(id, organizationID: principal.organizationID)
        guard Self.visible(b, to: principal) else { throw TallyError.notFound("budget '\(id)'") }
        return try await answer(b, principal)
    }

    @Sendable func update(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let id = try context.parameters.require("id")
        // Another organization's (or no) budget comes before any field's problem.
        _ = try await budgets.find(id, organizationID: principal.organizationID)
        let draft = try BudgetDraft(json: try await JSONBody.read(request))
        let updated = try await budgets.update(id, draft, principal: principal)
        changed(principal.organizationID)
        return try await answer(updated, principal)
    }

    @Sendable func delete(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        try await budgets.delete(try context.parameters.require("id"), principal: principal)
        changed(principal.organizationID)
        return Response(status: .noContent)
    }

    /// A project without a monthly budget answers 404, like an unknown project.
    @Sendable func projectBudget(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readUsage, request)
        let id = try context.parameters.require("id")
        if let allowed = principal.projectScope, !allowed.contains(id) { throw TallyError.notFound("project '\(id)'") }
        let b = try await budgets.projectBudget(projectID: id, organizationID: principal.organizationID)
        // Its scope is the project's alone; should it ever not be, a project token must not read the wider spend.
        guard Self.visible(b, to: principal) else { throw TallyError.notFound("a monthly budget of project '\(id)'") }
        return .json(BudgetJSON.projectBudget(b, status: try await budgets.status(of: b, at: .now)))
    }

    /// Creates the project's monthly budget on first use (`amount_usd` required then), else changes it.
    @Sendable func setProjectBudget(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let id = try context.parameters.require("id")
        // An unknown or foreign project comes before any field's problem.
        guard try await budgets.store.project(organizationID: principal.organizationID, id: id) != nil else {
            throw TallyError.notFound("project '\(id)'")
        }
        let body = try await JSONBody.read(request)
        _ = try JSONBody.Fields(body, allowed: ["amount_usd", "thresholds"])
        let draft = try BudgetDraft(json: body)
        let b = try await budgets.setProjectBudget(
            projectID: id, amount: draft.amount, thresholds: draft.thresholds, principal: principal)
        return .json(BudgetJSON.projectBudget(b, status: try await budgets.status(of: b, at: .now)))
    }
}
