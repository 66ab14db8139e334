import Hummingbird
import TallyCore
import TallyHTTP
import TallyServices

/// Safety filters (`/api/v1/safety-filters`, issue 21). Admins only, reads included: a filter's keywords and patterns
/// say what the organization looks for. Another organization's filter is not found.
struct SafetyFiltersController<Store: TallyStore> {
    let auth: Authenticator<Store>
    let filters: SafetyFilterService<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("safety-filters", use: list)
        group.post("safety-filters", use: create)
        group.get("safety-filters/:id", use: show)
        group.patch("safety-filters/:id", use: update)
        group.delete("safety-filters/:id", use: delete)
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageContent, request)
        let list = try await filters.list(organizationID: principal.organizationID)
        let names = try await filters.projectNames(organizationID: principal.organizationID)
        return .json(ListJSON.list(list) { SafetyFilterJSON.write($0, projects: names, into: &$1) })
    }

    @Sendable func create(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageContent, request)
        let fields = try JSONBody.Fields(try await JSONBody.read(request), allowed: SafetyFilterInput.fields)
        let filter = try await filters.create(
            fields.members, organizationID: principal.organizationID, actor: principal.actor)
        return try await answer(filter, principal, status: .created)
    }

    @Sendable func show(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageContent, request)
        let id = try context.parameters.require("id")
        return try await answer(try await filters.find(id, organizationID: principal.organizationID), principal)
    }

    @Sendable func update(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageContent, request)
        let id = try context.parameters.require("id")
        // Another organization's (or no) filter comes before any field's problem.
        _ = try await filters.find(id, organizationID: principal.organizationID)
        let fields = try JSONBody.Fields(try await JSONBody.read(request), allowed: SafetyFilterInput.fields)
        let filter = try await filters.update(
            id, fields.members, organizationID: principal.organizationID, actor: principal.actor)
        return try await answer(filter, principal)
    }

    @Sendable func delete(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageContent, request)
        let id = try context.parameters.require("id")
        _ = try await filters.find(id, organizationID: principal.organizationID)
        try await filters.delete(id, organizationID: principal.organizationID, actor: principal.actor)
        return Response(status: .noContent)
    }

    func answer(_ filter: SafetyFilter, _ principal: Principal, status: HTTPResponse.Status = .ok) async throws
        -> Response
    {
        let names = try await filters.projectNames(organizationID: principal.organizationID)
        var w = JSONWriter()
        SafetyFilterJSON.write(filter, projects: names, into: &w)
        return .json(w.text, status: status)
    }
}
