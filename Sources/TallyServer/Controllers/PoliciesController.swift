import Hummingbird
import TallyCore
import TallyHTTP
import TallyServices

/// Guardrail policies (`/api/v1/policies`, issue 19). Admins only, reads included, like the alert channels: a policy
/// names users, tokens and features, and says where limits are. Another organization's policy is not found.
struct PoliciesController<Policies: PolicyStore, Store: TallyStore> {
    let auth: Authenticator<Store>
    let policies: PolicyService<Policies, Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("policies", use: list)
        group.post("policies", use: create)
        group.get("policies/:id", use: show)
        group.patch("policies/:id", use: update)
        group.delete("policies/:id", use: delete)
        group.get("policies/:id/hits", use: hits)
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let org = principal.organizationID
        let list = try await policies.list(organizationID: org)
        let names = try await policies.projectNames(organizationID: org)
        let counts = try await policies.hitCounts(organizationID: org)
        return .json(
            ListJSON.list(list) { PolicyJSON.write($0, projects: names, hits: counts[$0.id] ?? [:], into: &$1) })
    }

    @Sendable func create(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let draft = try PolicyDraft(json: try await JSONBody.read(request))
        return try await answer(try await policies.create(draft, principal: principal), principal, status: .created)
    }

    @Sendable func show(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let id = try context.parameters.require("id")
        return try await answer(try await policies.find(id, organizationID: principal.organizationID), principal)
    }

    @Sendable func update(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let id = try context.parameters.require("id")
        // Another organization's (or no) policy comes before any field's problem.
        _ = try await policies.find(id, organizationID: principal.organizationID)
        let draft = try PolicyDraft(json: try await JSONBody.read(request))
        return try await answer(try await policies.update(id, draft, principal: principal), principal)
    }

    @Sendable func delete(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        try await policies.delete(try context.parameters.require("id"), principal: principal)
        return Response(status: .noContent)
    }

    /// The policy's newest hits, newest first (`?limit=`, 1-500, default 50).
    @Sendable func hits(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let org = principal.organizationID
        let query = try QueryParameters(request, allowed: ["limit"])
        let limit = try query.integer("limit", in: 1...500) ?? 50
        let policy = try await policies.find(try context.parameters.require("id"), organizationID: org)
        let hits = try await policies.hits(organizationID: org, policyID: policy.id, limit: limit)
        let names = try await policies.projectNames(organizationID: org)
        return .json(ListJSON.list(hits) { PolicyJSON.writeHit($0, projects: names, into: &$1) })
    }

    private func answer(_ p: Policy, _ principal: Principal, status: HTTPResponse.Status = .ok) async throws
        -> Response
    {
        let org = principal.organizationID
        let counts = try await policies.hitCounts(organizationID: org)
        return .json(
            PolicyJSON.policy(
                p, projects: try await policies.projectNames(organizationID: org), hits: counts[p.id] ?? [:]),
            status: status)
    }
}
