import Hummingbird
import TallyCore
import TallyHTTP
import TallyServices

/// Alert channels (`/api/v1/alert-channels`). Admins only, reads included: channels hold recipients' addresses and
/// webhook URLs. A test sends now and answers 200 with the result, delivered or not.
struct AlertChannelsController<Store: TallyStore> {
    let auth: Authenticator<Store>
    let channels: AlertChannelService<Store>
    let deliverer: AlertDeliverer<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("alert-channels", use: list)
        group.post("alert-channels", use: create)
        group.get("alert-channels/:id", use: show)
        group.patch("alert-channels/:id", use: update)
        group.delete("alert-channels/:id", use: delete)
        group.post("alert-channels/:id/test", use: test)
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let list = try await channels.store.alertChannels(organizationID: principal.organizationID)
        return .json(ListJSON.list(list, AlertChannelJSON.write))
    }

    @Sendable func create(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let draft = try AlertChannelDraft(body: try await JSONBody.read(request))
        let c = try await channels.create(draft, principal: principal)
        return .json(AlertChannelJSON.channel(c), status: .created)
    }

    @Sendable func show(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        return .json(
            AlertChannelJSON.channel(
                try await channels.find(try context.parameters.require("id"), principal: principal)))
    }

    @Sendable func update(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let id = try context.parameters.require("id")
        let body = try await JSONBody.read(request)
        // Another organization's (or no) channel is not found before any field's problem.
        let current = try await channels.find(id, principal: principal)
        let c = try await channels.update(
            current, try AlertChannelChanges(body: body, current: current), principal: principal)
        return .json(AlertChannelJSON.channel(c))
    }

    @Sendable func delete(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        try await channels.delete(try context.parameters.require("id"), principal: principal)
        return Response(status: .noContent)
    }

    @Sendable func test(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let channel = try await channels.find(try context.parameters.require("id"), principal: principal)
        return .json(AlertChannelJSON.test(try await deliverer.test(channel)))
    }
}
