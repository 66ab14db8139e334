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
        let digests = try await digestIDs(principal)
        return .json(ListJSON.list(list) { AlertChannelJSON.write($0, weeklyDigest: digests, into: &$1) })
    }

    @Sendable func create(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let json = try await JSONBody.read(request)
        let (body, digest) = try WeeklyDigestField.split(json) { try WeeklyDigestField.kind(of: json) }
        let draft = try AlertChannelDraft(body: body)
        let c = try await channels.create(draft, principal: principal)
        try await setDigest(digest, c, principal)
        return .json(AlertChannelJSON.channel(c, weeklyDigest: try await digestIDs(principal)), status: .created)
    }

    @Sendable func show(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        return .json(
            AlertChannelJSON.channel(
                try await channels.find(try context.parameters.require("id"), principal: principal),
                weeklyDigest: try await digestIDs(principal)))
    }

    @Sendable func update(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let id = try context.parameters.require("id")
        // Another organization's (or no) channel is not found before any field's problem.
        let current = try await channels.find(id, principal: principal)
        let (body, digest) = try WeeklyDigestField.split(try await JSONBody.read(request)) { current.kind }
        let c = try await channels.update(
            current, try AlertChannelChanges(body: body, current: current), principal: principal)
        try await setDigest(digest, c, principal)
        return .json(AlertChannelJSON.channel(c, weeklyDigest: try await digestIDs(principal)))
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

    /// The email channels that get the weekly digest (issue 18).
    private func digestIDs(_ principal: Principal) async throws -> Set<String> {
        Set(try await channels.store.weeklyDigestChannelIDs(organizationID: principal.organizationID))
    }

    private func setDigest(_ enabled: Bool?, _ c: AlertChannel, _ principal: Principal) async throws {
        guard let enabled else { return }
        try await channels.store.setWeeklyDigest(
            organizationID: principal.organizationID, channelID: c.id, enabled: enabled)
    }
}
