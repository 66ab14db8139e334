import Hummingbird
import TallyCore
import TallyHTTP
import TallyServices

/// Teams for chargeback (`/api/v1/teams`, issue 20): admins write; members, viewers and admin tokens read them. Another
/// organization's team is not found.
struct TeamsController<Store: TallyStore> {
    let store: Store
    let auth: Authenticator<Store>
    let teams: TeamService<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("teams", use: list)
        group.post("teams", use: create)
        group.get("teams/:id", use: show)
        group.patch("teams/:id", use: update)
        group.delete("teams/:id", use: delete)
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        // Teams name every project: a token limited to one project does not read them.
        let principal = try await StatementsController<Store>.organizationWide(auth, request)
        _ = try QueryParameters(request, allowed: [])
        let names = try await projectNames(principal)
        return .json(
            ListJSON.list(try await teams.list(organizationID: principal.organizationID)) {
                ReportJSON.writeTeam($0, projects: names, into: &$1)
            })
    }

    @Sendable func show(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await StatementsController<Store>.organizationWide(auth, request)
        let team = try await teams.find(try context.parameters.require("id"), organizationID: principal.organizationID)
        return .json(ReportJSON.team(team, projects: try await projectNames(principal)))
    }

    @Sendable func create(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProjects, request)
        let draft = try TeamDraft(json: try await JSONBody.read(request))
        let team = try await teams.create(draft, principal: principal)
        return .json(ReportJSON.team(team, projects: try await projectNames(principal)), status: .created)
    }

    @Sendable func update(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProjects, request)
        let id = try context.parameters.require("id")
        // Another organization's (or no) team comes before any field's problem.
        _ = try await teams.find(id, organizationID: principal.organizationID)
        let draft = try TeamDraft(json: try await JSONBody.read(request))
        let team = try await teams.update(id, draft, principal: principal)
        return .json(ReportJSON.team(team, projects: try await projectNames(principal)))
    }

    @Sendable func delete(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProjects, request)
        try await teams.delete(try context.parameters.require("id"), principal: principal)
        return Response(status: .noContent)
    }

    private func projectNames(_ principal: Principal) async throws -> [String: String] {
        Dictionary(
            try await store.projects(organizationID: principal.organizationID).map { ($0.id, $0.name) },
            uniquingKeysWith: { a, _ in a })
    }
}
