import Hummingbird
import TallyCore
import TallyGateway
import TallyHTTP
import TallyIngest
import TallyPrice
import TallyServices
import TallyWeb

/// Prices: the entries in force, an organization's own, quotes, unpriced models and deliberate re-pricing.
struct PricesController<Store: AuthenticationStore & PriceServiceStore> {
    let store: Store
    let auth: Authenticator<Store>
    let prices: PriceService<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("prices", use: list)
        group.post("prices", use: add)
        group.delete("prices/:id", use: end)
        group.post("prices/quote", use: quote)
        group.get("prices/unpriced", use: unpriced)
        group.post("prices/recompute", use: recompute)
    }

    /// Entries in force at `at` (default now), built-in and the organization's own, filtered by provider and model.
    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.read, request)
        let params = try QueryParameters(request, allowed: ["provider", "model", "at", "all"])
        // A bare date in `at` is UTC midnight.
        let at = try params.instant("at", bareDate: .utcMidnight) ?? .now
        let all = try params.bool("all") ?? false
        let provider = params["provider"]?.lowercased()
        let model = params["model"]
        var entries = prices.pricer.organizationEntries(principal.organizationID) + prices.pricer.catalog.entries
        if !all { entries = entries.filter { $0.isEffective(at: at) } }
        if let provider { entries = entries.filter { $0.provider == nil || $0.provider == provider } }
        if let model {
            let names = Set(ModelName.candidates(model))
            entries = entries.filter { e in (all ? e.allNames : e.names(at: at)).contains(where: names.contains) }
        }
        return .json(PriceJSON.entries(entries))
    }

    @Sendable func add(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.admin, request)
        let body = try await JSONBody.read(request)
        let entry = try await prices.add(
            try CatalogFile.parseOrganizationEntry(body, organizationID: principal.organizationID),
            organizationID: principal.organizationID, actor: principal.actor)
        return .json(PriceJSON.entry(entry), status: .created)
    }

    /// Ends an organization entry on `on` (default today, UTC); one not yet in force by then is removed.
    @Sendable func end(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.admin, request)
        let id = try context.parameters.require("id")
        let params = try QueryParameters(request, allowed: ["on"])
        let on = try params.date("on") ?? CivilDate(daysSinceEpoch: floorDiv(Instant.now.microseconds, 86_400_000_000))
        try await prices.end(id: id, on: on, organizationID: principal.organizationID, actor: principal.actor)
        return Response(status: .noContent)
    }

    /// Prices the usage fields of an event without storing anything.
    @Sendable func quote(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.read, request)
        var body = try await JSONBody.read(request)
        let now = Instant.now
        if case .object(var members) = body, !members.contains(where: { $0.0 == "timestamp" }) {
            members.append(("timestamp", .string(now.rfc3339)))
            body = .object(members)
        }
        guard case .object = body else {
            throw TallyError.invalid([
                FieldProblem(field: "body", reason: "must be one event's usage fields as an object")
            ])
        }
        let event = try EventDecoder.decode(Array(JSONWriter.encode(body).utf8), format: .json, now: now)[0]
        let breakdown = prices.pricer.breakdown(event, organizationID: principal.organizationID)
        if let problem = breakdown?.problem { throw TallyError.invalid([problem]) }
        return .json(PriceJSON.quote(breakdown, of: event))
    }

    @Sendable func unpriced(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.read, request)
        let params = try QueryParameters(request, allowed: ["from", "to"])
        let scope = principal.projectScope
        // A bare date in `from`/`to` is UTC midnight.
        let models = try await store.unpricedModels(
            organizationID: principal.organizationID,
            from: try params.instant("from", bareDate: .utcMidnight),
            to: try params.instant("to", bareDate: .utcMidnight), projectIDs: scope)
        return .json(PriceJSON.unpriced(models))
    }

    @Sendable func recompute(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.admin, request)
        let body = try await JSONBody.read(request)
        let fields = try JSONBody.Fields(body, allowed: ["from", "to", "provider", "model", "dry_run"])
        let from = try fields.instant("from", required: true)!
        let to = try fields.instant("to", required: true)!
        guard from < to else { throw TallyError.invalid([FieldProblem(field: "to", reason: "must be after from")]) }
        let result = try await prices.recompute(
            .init(
                from: from, to: to, provider: try fields.string("provider"), model: try fields.string("model"),
                dryRun: try fields.bool("dry_run") ?? false),
            organizationID: principal.organizationID, actor: principal.actor
        )
        return .json(RepricingJSON.json(result))
    }
}
