import Hummingbird
import TallyCore
import TallyGateway
import TallyHTTP
import TallyServices
import TallyWeb

/// Provider sync: run one now, and the list of runs.
struct SyncController<Store: AuthenticationStore & SyncStore & ProjectStore & AuditStore> {
    let store: Store
    let auth: Authenticator<Store>
    let runner: SyncRunner<Store>
    let holder = Identifier.make("api")

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.post("provider-connections/:id/sync", use: sync)
        group.get("sync-runs", use: runs)
        group.get("provider-connections/:id/refs", use: refs)
        group.put("provider-connections/:id/refs/:ref", use: mapRef)
    }

    /// The provider projects/workspaces and API keys seen in the connection's reports, with the Tally project each
    /// project/workspace maps to (`null`: shown as "unassigned").
    @Sendable func refs(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readUsage, request)
        let id = try context.parameters.require("id")
        guard try await store.connection(organizationID: principal.organizationID, id: id) != nil else {
            throw TallyError.notFound("provider connection '\(id)'")
        }
        let mapped = try await store.providerProjectMappings(organizationID: principal.organizationID)[id] ?? [:]
        let names = Dictionary(
            try await store.projects(organizationID: principal.organizationID).map { ($0.id, $0.name) },
            uniquingKeysWith: { a, _ in a })
        let refs = try await store.providerRefs(organizationID: principal.organizationID, connectionID: id)
        return .json(SyncJSON.refs(refs) { mapped[$0].flatMap { names[$0] } })
    }

    /// `{"project": "web"}` maps a provider project/workspace to a Tally project; `{"project": null}` unmaps it.
    @Sendable func mapRef(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProjects, request)
        let id = try context.parameters.require("id")
        let ref = try context.parameters.require("ref")
        guard try await store.connection(organizationID: principal.organizationID, id: id) != nil else {
            throw TallyError.notFound("provider connection '\(id)'")
        }
        let fields = try JSONBody.Fields(try await JSONBody.read(request), allowed: ["project"])
        var projectID: String?
        if let name = try fields.string("project") {
            guard let project = try await store.project(organizationID: principal.organizationID, name: name) else {
                throw TallyError.invalid([
                    FieldProblem(field: "project", reason: "is not a project of this organization")
                ])
            }
            projectID = project.id
        }
        try await store.mapProviderProject(
            organizationID: principal.organizationID, connectionID: id, ref: ref, projectID: projectID)
        try await store.recordAudit(
            .make(
                organizationID: principal.organizationID, actor: principal.actor, action: "provider_project.map",
                detail: [
                    ("connection", .string(id)), ("ref", .string(ref)),
                    ("project", projectID.map(JSONValue.string) ?? .null),
                ]))
        return Response(status: .noContent)
    }

    /// Runs a sync now and answers with the finished run (`{"from","to"}` optional: default the last 3 days).
    /// While another sync of the connection holds its lease (any replica), 409.
    @Sendable func sync(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProviderKeys, request)
        let id = try context.parameters.require("id")
        guard let connection = try await store.connection(organizationID: principal.organizationID, id: id) else {
            throw TallyError.notFound("provider connection '\(id)'")
        }
        let fields = try JSONBody.Fields(
            try await JSONBody.read(request, emptyIsObject: true), allowed: ["from", "to"])
        let now = Instant.now
        let to = try fields.instant("to", required: false) ?? now
        let from = try fields.instant("from", required: false) ?? to.adding(seconds: -3 * 86_400)
        guard from < to else { throw TallyError.invalid([FieldProblem(field: "from", reason: "must be before 'to'")]) }
        guard to.microseconds - from.microseconds <= 366 * 86_400_000_000 else {
            throw TallyError.invalid([FieldProblem(field: "from", reason: "a sync may span at most 365 days")])
        }
        guard
            let run = try await runner.runLeased(
                id, holder: holder, now: now,
                {
                    try await runner.run(connection, from: from, to: to, trigger: .manual, leaseHolder: holder)
                })
        else {
            throw TallyError.conflict("a sync of this connection is running; try again when it has finished")
        }
        return .json(SyncJSON.run(run))
    }

    @Sendable func runs(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readUsage, request)
        let params = try QueryParameters(request, allowed: ["connection", "limit"])
        let limit = try params.integer("limit", in: 1...500) ?? 50
        let list = try await store.syncRuns(
            organizationID: principal.organizationID, connectionID: params["connection"], limit: limit)
        return .json(ListJSON.list(list, SyncJSON.write))
    }
}
