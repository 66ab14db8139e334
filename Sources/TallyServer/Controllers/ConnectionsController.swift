import Hummingbird
import TallyCore
import TallyGateway
import TallyHTTP
import TallyServices
import TallyWeb

/// Provider connections: the encrypted key vault's API. Responses carry masks only.
struct ConnectionsController<Store: AuthenticationStore & ConnectionStore> {
    let auth: Authenticator<Store>
    let connections: ConnectionService<Store>
    /// Told when a connection is saved (added or changed: the provider sync runs at once for new keys) or deleted
    /// (either way the gateway forgets the connections it remembered).
    let changes: ChangeNotifier
    /// Refuses a person whose email is not verified yet (open sign-up, issue 23): they can look, not spend.
    let requireVerifiedEmail: @Sendable (Principal) async throws -> Void

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("provider-connections", use: list)
        group.post("provider-connections", use: create)
        group.get("provider-connections/:id", use: show)
        group.patch("provider-connections/:id", use: update)
        group.delete("provider-connections/:id", use: delete)
        group.post("provider-connections/:id/test", use: test)
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProviderKeys, request)
        let list = try await connections.store.connections(organizationID: principal.organizationID)
        return .json(ListJSON.list(list, AccountJSON.writeConnection))
    }

    @Sendable func create(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProviderKeys, request)
        let body = try await JSONBody.read(request)
        try await requireVerifiedEmail(principal)
        // Without a vault nothing is read further: the refusal comes before any field's problem.
        _ = try connections.requireVault()
        let c = try await connections.create(try ConnectionDraft(body: body), principal: principal)
        changes.notify(.connectionSaved)
        return .json(AccountJSON.connection(c), status: .created)
    }

    @Sendable func show(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProviderKeys, request)
        return .json(
            AccountJSON.connection(
                try await connections.find(try context.parameters.require("id"), principal: principal)))
    }

    @Sendable func update(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProviderKeys, request)
        let id = try context.parameters.require("id")
        let body = try await JSONBody.read(request)
        // The vault's absence, then another organization's (or no) connection, come before any field's problem.
        _ = try connections.requireVault()
        let current = try await connections.find(id, principal: principal)
        let c = try await connections.update(current, try ConnectionChanges(body: body), principal: principal)
        changes.notify(.connectionSaved)
        return .json(AccountJSON.connection(c))
    }

    @Sendable func delete(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProviderKeys, request)
        try await connections.delete(try context.parameters.require("id"), principal: principal)
        changes.notify(.connectionDeleted)
        return Response(status: .noContent)
    }

    @Sendable func test(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageProviderKeys, request)
        let result = try await connections.test(try context.parameters.require("id"), principal: principal)
        return .json(AccountJSON.connectionTest(ok: result.ok, error: result.error, connection: result.connection))
    }
}
