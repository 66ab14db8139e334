import HTTPTypes
import Hummingbird
import NIOCore
import TallyCore
import TallyGateway
import TallyHTTP
import TallyPrice
import TallyServices

/// The playground's calls (issue 21), for a signed-in member only (a session and its CSRF token; never a bearer
/// token, so no token is ever in the page): send a prompt through Tally's own gateway as one of the organization's
/// projects, estimate its input cost first, list the connection's models.
struct PlaygroundController<Store: TallyStore> {
    let store: Store
    let auth: Authenticator<Store>
    let gateway: GatewayController<Store>
    let pricer: CatalogPricer

    func addRoutes(to router: Router<TallyRequestContext>) {
        router.post("playground/send", use: send)
        router.post("playground/estimate", use: estimate)
        router.get("playground/models", use: models)
    }

    /// The member behind the session (members and admins: the role that may send usage), never a token.
    func member(_ request: Request) async throws -> (Principal, User) {
        guard request.headers[.authorization] == nil else {
            throw TallyError.forbidden("the playground is for signed-in members; call the gateway with a token instead")
        }
        let principal = try await auth.principal(request)
        guard case .user(let user, _, _) = principal.kind else { throw TallyError.unauthenticated }
        guard principal.allows(Permission.ingest) else {
            throw TallyError.forbidden("your role cannot send calls through the gateway: it needs member")
        }
        return (principal, user)
    }

    func connection(_ id: String, _ principal: Principal) async throws -> ProviderConnection {
        guard let c = try await store.connection(organizationID: principal.organizationID, id: id) else {
            throw TallyError.invalid([
                FieldProblem(field: "connection", reason: "is not a connection of this organization")
            ])
        }
        return c
    }

    @Sendable func send(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let (principal, user) = try await member(request)
        let fields = try JSONBody.Fields(try await JSONBody.read(request), allowed: PlaygroundRequest.fields)
        let p = try PlaygroundRequest(fields.members)
        let connection = try await connection(p.connectionID, principal)
        guard let project = try await store.project(organizationID: principal.organizationID, name: p.projectName),
            project.archivedAt == nil
        else {
            throw TallyError.invalid([
                FieldProblem(field: "project", reason: "is not an active project of this organization")
            ])
        }
        let eventID = Identifier.make("gw_pg")
        var response = try await gateway.playground(
            p, connection: connection, project: project, user: user, eventID: eventID)
        response.headers[HTTPField.Name("X-Tally-Event-Id")!] = eventID
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// `{"input_tokens", "exact", "input_cost_usd", "price_id"}`: the prompt's input tokens (the provider's count where
    /// it offers one, else a token per 4 bytes) priced at the model's input rate in force today.
    @Sendable func estimate(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let (principal, _) = try await member(request)
        let fields = try JSONBody.Fields(try await JSONBody.read(request), allowed: PlaygroundRequest.fields)
        let p = try PlaygroundRequest(fields.members, forEstimate: true)
        let connection = try await connection(p.connectionID, principal)
        let counted = await gateway.countTokens(p, connection: connection, organizationID: principal.organizationID)
        let tokens = counted ?? p.estimatedInputTokens
        var usage = TokenUsage()
        usage.inputTokens = tokens
        let quote = pricer.quote(
            UsageEvent(
                id: "playground-estimate", timestamp: .now, provider: connection.provider.rawValue, model: p.model,
                usage: usage), organizationID: principal.organizationID)
        var w = JSONWriter()
        w.beginObject()
        w.field("input_tokens", tokens)
        w.field("exact", counted != nil)
        w.field("input_cost_usd", quote?.cost.decimalString)
        w.field("price_id", quote?.priceID)
        w.endObject()
        return .json(w.text)
    }

    @Sendable func models(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let (principal, _) = try await member(request)
        let params = try QueryParameters(request, allowed: ["connection"])
        guard let id = params["connection"] else { throw APIError.badParameter("connection", "is required") }
        let c = try await connection(id, principal)
        let names = await gateway.listModels(connection: c, organizationID: principal.organizationID)
        var w = JSONWriter()
        w.beginObject()
        w.key("models")
        w.beginArray()
        for n in names { w.string(n) }
        w.endArray()
        w.endObject()
        return .json(w.text)
    }
}
