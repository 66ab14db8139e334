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
    let statementMailer: StatementMailer<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("alert-channels", use: list)
        group.post("alert-channels", use: create)
        group.get("alert-channels/:id", use: show)
        group.patch("alert-channels/:id", use: update)
        group.delete("alert-channels/:id", use: delete)
        group.post("alert-channels/:id/test", use: test)
        group.post("alert-channels/:id/send-now", use: sendNow)
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let list = try await channels.store.alertChannels(organizationID: principal.organizationID)
        let optIns = try await optIns(principal)
        return .json(ListJSON.list(list) { AlertChannelJSON.write($0, optIns: optIns, into: &$1) })
    }

    @Sendable func create(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let json = try await JSONBody.read(request)
        let (body, given) = try EmailOptIns.split(json) { try EmailOptIns.kind(of: json) }
        let draft = try AlertChannelDraft(body: body)
        let c = try await channels.create(draft, principal: principal)
        try await EmailOptIns.store(given, channel: c, in: channels.store)
        return .json(AlertChannelJSON.channel(c, optIns: try await optIns(principal)), status: .created)
    }

    @Sendable func show(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        return .json(
            AlertChannelJSON.channel(
                try await channels.find(try context.parameters.require("id"), principal: principal),
                optIns: try await optIns(principal)))
    }

    @Sendable func update(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let id = try context.parameters.require("id")
        // Another organization's (or no) channel is not found before any field's problem.
        let current = try await channels.find(id, principal: principal)
        let (body, given) = try EmailOptIns.split(try await JSONBody.read(request)) { current.kind }
        let c = try await channels.update(
            current, try AlertChannelChanges(body: body, current: current), principal: principal)
        try await EmailOptIns.store(given, channel: c, in: channels.store)
        return .json(AlertChannelJSON.channel(c, optIns: try await optIns(principal)))
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

    /// `{"report": "monthly_statement"|"weekly_summary", "period"?}`: mails the statement to the channel now (the
    /// period due now by default), without touching the schedule; answers who got it.
    @Sendable func sendNow(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let channel = try await channels.find(try context.parameters.require("id"), principal: principal)
        let fields = try JSONFields(try await JSONBody.read(request), allowed: ["report", "period"])
        let raw = try fields.string("report") ?? ScheduledReport.monthlyStatement.rawValue
        guard let report = ScheduledReport(rawValue: raw) else {
            throw TallyError.invalid([
                FieldProblem(field: "report", reason: "must be monthly_statement or weekly_summary")
            ])
        }
        let period = try fields.string("period")
        let delivered = try await statementMailer.send(report, period: period, to: channel)
        var w = JSONWriter()
        w.beginObject()
        w.field("report", report.rawValue)
        w.key("sent_to")
        w.beginArray()
        for address in delivered { w.string(address) }
        w.endArray()
        w.key("failed")
        w.beginArray()
        for address in channel.targets where !delivered.contains(address) { w.string(address) }
        w.endArray()
        w.endObject()
        return .json(w.text)
    }

    private func optIns(_ principal: Principal) async throws -> EmailOptIns {
        try await EmailOptIns.read(channels.store, organizationID: principal.organizationID)
    }
}
