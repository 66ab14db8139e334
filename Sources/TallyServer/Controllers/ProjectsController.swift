import Hummingbird
import TallyCore
import TallyGateway
import TallyHTTP
import TallyServices
import TallyWeb

/// Projects and API tokens, from the web and from scripts.
struct ProjectsController<Store: AuthenticationStore & ProjectStore & AuditStore & EventContentStore> {
    let store: Store
    let auth: Authenticator<Store>
    /// Told `.projects` when a token is revoked or a project changes (the gateway forgets what it remembered of them).
    let changes: ChangeNotifier
    /// Refuses a person whose email is not verified yet (open sign-up, issue 23): they can look, not spend.
    let requireVerifiedEmail: @Sendable (Principal) async throws -> Void

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("projects", use: projects)
        group.post("projects", use: createProject)
        group.patch("projects/:id", use: updateProject)
        group.get("tokens", use: tokens)
        group.post("tokens", use: createToken)
        group.delete("tokens/:id", use: revokeToken)
    }

    @Sendable func projects(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readUsage, request)
        var list = try await store.projects(organizationID: principal.organizationID)
        if let scope = principal.projectScope { list = list.filter { scope.contains($0.id) } }
        return .json(ListJSON.list(list, AccountJSON.writeProject))
    }

    @Sendable func createProject(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProjects, request)
        let fields = try JSONBody.Fields(try await JSONBody.read(request), allowed: ["name"])
        let name = try fields.string("name") ?? ""
        if let reason = Project.validate(name: name) {
            throw TallyError.invalid([FieldProblem(field: "name", reason: reason)])
        }
        let project = try await store.createProject(organizationID: principal.organizationID, name: name)
        try await store.recordAudit(
            .make(
                organizationID: principal.organizationID, actor: principal.actor, action: "project.create",
                detail: [("id", .string(project.id)), ("name", .string(name))]))
        return .json(AccountJSON.project(project), status: .created)
    }

    /// Renames, archives or restores a project. Projects are never deleted: their events stay.
    @Sendable func updateProject(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProjects, request)
        let id = try context.parameters.require("id")
        guard var project = try await store.project(organizationID: principal.organizationID, id: id) else {
            throw TallyError.notFound("project '\(id)'")
        }
        let fields = try JSONBody.Fields(
            try await JSONBody.read(request),
            allowed: ["name", "archived", "content_capture", "content_retention_days"])
        let content = try Self.contentSettings(fields, current: project.content)
        if content != project.content {
            // Capture is an admin's choice (it decides whether bodies are kept); issue 21.
            guard principal.allows(.manageContent) else {
                throw TallyError.forbidden("only admins can change a project's content capture")
            }
        }
        if let name = try fields.string("name") {
            if let reason = Project.validate(name: name) {
                throw TallyError.invalid([FieldProblem(field: "name", reason: reason)])
            }
            project.name = name
        }
        if let archived = try fields.bool("archived") {
            project.archivedAt = archived ? (project.archivedAt ?? .now) : nil
        }
        try await store.updateProject(
            organizationID: principal.organizationID, id: id, name: project.name, archivedAt: project.archivedAt)
        if content != project.content {
            try await store.setContentSettings(organizationID: principal.organizationID, projectID: id, content)
            try await store.recordAudit(
                .make(
                    organizationID: principal.organizationID, actor: principal.actor, action: "project.content_capture",
                    detail: [
                        ("id", .string(id)), ("content_capture", .string(content.capture.rawValue)),
                        ("content_retention_days", .number("\(content.retentionDays)")),
                    ]))
            project.content = content
        }
        changes.notify(.projects)
        try await store.recordAudit(
            .make(
                organizationID: principal.organizationID, actor: principal.actor, action: "project.update",
                detail: [
                    ("id", .string(id)), ("name", .string(project.name)),
                    ("archived", .bool(project.archivedAt != nil)),
                ]))
        return .json(AccountJSON.project(project))
    }

    /// `content_capture` (off, redacted, full) and `content_retention_days` (1–3650) over the project's current ones.
    static func contentSettings(_ fields: JSONBody.Fields, current: ContentSettings) throws -> ContentSettings {
        var settings = current
        var problems: [FieldProblem] = []
        if let mode = try fields.string("content_capture") {
            if let capture = ContentCapture(rawValue: mode) {
                settings.capture = capture
            } else {
                problems.append(FieldProblem(field: "content_capture", reason: "must be off, redacted or full"))
            }
        }
        if fields.members["content_retention_days"] != nil {
            let range = ContentSettings.retentionDays
            if case .number(let literal)? = fields.members["content_retention_days"], let days = Int(literal),
                range.contains(days)
            {
                settings.retentionDays = days
            } else {
                problems.append(
                    FieldProblem(
                        field: "content_retention_days",
                        reason: "must be a whole number of days from \(range.lowerBound) to \(range.upperBound)"))
            }
        }
        guard problems.isEmpty else { throw TallyError.invalid(problems) }
        return settings
    }

    /// Admins see every token; members their own; a token with `admin` scope every token of the organization.
    @Sendable func tokens(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readUsage, request)
        var list = try await store.tokens(organizationID: principal.organizationID)
        if !principal.allows(.manageAllTokens) {
            if let user = principal.user {
                list = list.filter { $0.createdBy == user.id }
            } else if let token = principal.token {
                list = list.filter { $0.id == token.id }
            }
        }
        return .json(ListJSON.list(list, AccountJSON.writeToken))
    }

    @Sendable func createToken(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageOwnTokens, request)
        try await requireVerifiedEmail(principal)
        let fields = try JSONBody.Fields(
            try await JSONBody.read(request), allowed: ["name", "project", "scopes", "expires_at"])
        guard let project = try fields.string("project") else {
            throw TallyError.invalid([FieldProblem(field: "project", reason: "is required")])
        }
        guard case .array(let rawScopes)? = fields.members["scopes"] else {
            throw TallyError.invalid([
                FieldProblem(field: "scopes", reason: "is required: a list of ingest, read, gateway, admin")
            ])
        }
        let names = try rawScopes.map { value -> String in
            guard case .string(let s) = value else {
                throw TallyError.invalid([FieldProblem(field: "scopes", reason: "must be a list of strings")])
            }
            return s
        }
        let scopes = try parseScopes(names.joined(separator: ",")).get()
        if scopes.contains(.admin), !principal.allows(.manageAllTokens) {
            throw TallyError.forbidden("only admins can create tokens with the 'admin' scope")
        }
        let expiresAt = try fields.instant("expires_at", required: false)
        if let expiresAt, expiresAt <= .now {
            throw TallyError.invalid([FieldProblem(field: "expires_at", reason: "must be in the future")])
        }
        let name = try fields.string("name").map { try DisplayName.validated($0, field: "name") }
        if let target = try await store.project(organizationID: principal.organizationID, name: project) {
            if target.archivedAt != nil { throw TallyError.conflict("project '\(project)' is archived") }
        } else {
            // A new project name creates the project, for those who may create projects.
            guard principal.allows(.manageProjects) else {
                throw TallyError.invalid([
                    FieldProblem(field: "project", reason: "is not a project of this organization")
                ])
            }
            if let problem = Project.validate(name: project) {
                throw TallyError.invalid([FieldProblem(field: "project", reason: problem)])
            }
            _ = try await store.createProject(organizationID: principal.organizationID, name: project)
        }
        let (token, secret) = try await TokenSecret.issue(
            store: store, organizationID: principal.organizationID, projectName: project, scopes: scopes, name: name,
            // A token made by a token carries the authority of the person behind that one (issue 14).
            expiresAt: expiresAt,
            createdBy: principal.user?.id ?? principal.token.map { $0.createdBy ?? "token:\($0.id)" })
        try await store.recordAudit(
            .make(
                organizationID: principal.organizationID, actor: principal.actor, action: "token.create",
                detail: [
                    ("id", .string(token.id)), ("project", .string(project)),
                    ("scopes", .string(scopes.sorted().map(\.rawValue).joined(separator: ","))),
                ]))
        return .json(AccountJSON.createdToken(token, secret: secret), status: .created)
    }

    @Sendable func revokeToken(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageOwnTokens, request)
        let id = try context.parameters.require("id")
        guard let token = try await store.tokens(organizationID: principal.organizationID).first(where: { $0.id == id })
        else {
            throw TallyError.notFound("token '\(id)'")
        }
        if !principal.allows(.manageAllTokens), token.createdBy != principal.user?.id {
            // Members manage their own tokens only; another's is not theirs to see.
            throw TallyError.notFound("token '\(id)'")
        }
        try await store.revokeToken(organizationID: principal.organizationID, id: id, at: .now)
        changes.notify(.projects)
        try await store.recordAudit(
            .make(
                organizationID: principal.organizationID, actor: principal.actor, action: "token.revoke",
                detail: [("id", .string(id))]))
        return Response(status: .noContent)
    }
}
