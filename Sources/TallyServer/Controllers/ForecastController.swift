import Hummingbird
import TallyAggregate
import TallyCore
import TallyForecast
import TallyHTTP
import TallyServices

/// `GET /api/v1/forecast` and `GET /api/v1/anomalies` (issue 18): who may read the summary may read these, a token
/// limited to projects within its projects, as the summary.
struct ForecastController<Store: TallyStore> {
    let store: Store
    let auth: Authenticator<Store>
    let forecasts: ForecastService<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("forecast", use: forecast)
        group.get("anomalies", use: anomalies)
    }

    @Sendable func forecast(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.read, request)
        let params = try QueryParameters.usage(request, allowed: ["horizon", "ledger", "budget"])
        try Self.refuseControlCharacters(params)
        let horizon = try params.integer("horizon", in: Forecaster.horizons) ?? 30
        let ledger = try params["ledger"].map { name in
            guard let ledger = BudgetLedger(rawValue: name) else {
                throw APIError.badParameter(
                    "ledger",
                    "must be observed (events Tally saw, the default) or provider (the providers' own reports)")
            }
            return ledger
        }
        let filters = try await params.filters(store: store, principal: principal)
        if let id = params["budget"] {
            // A budget a project-limited token could not read is not found, as another organization's.
            let budget = try await store.budget(organizationID: principal.organizationID, id: id)
            guard let budget, BudgetsController<Store>.visible(budget, to: principal) else {
                throw TallyError.notFound("budget '\(id)'")
            }
            guard budget.ledger == .observed || principal.projectScope == nil else {
                throw TallyError.forbidden("the provider ledger needs an admin token or a signed-in member")
            }
        } else if ledger == .provider {
            guard principal.projectScope == nil else {
                throw TallyError.forbidden("the provider ledger needs an admin token or a signed-in member")
            }
            if let d = Set(filters.keys).subtracting(ProviderLedger.usageDimensions).sorted().first {
                throw APIError.badParameter(
                    d.rawValue, "is not in the providers' reports; filter by provider, model, project, api_key, source")
            }
        }
        let answer = try await forecasts.forecast(
            ForecastRequest(
                organizationID: principal.organizationID, filters: filters, ledger: ledger ?? .observed,
                horizon: horizon, budgetID: params["budget"], now: .now))
        return .json(ForecastJSON.forecast(answer))
    }

    @Sendable func anomalies(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.read, request)
        let params = try QueryParameters.usage(request, allowed: ["from", "to"])
        try Self.refuseControlCharacters(params)
        let org = try await store.organization(id: principal.organizationID)
        let zone = org.flatMap { TimeZoneRules(identifier: $0.timeZone) } ?? .utc
        let now = Instant.now
        let (from, to) = try params.localRange(zone, now: now)
        let (first, last) = (zone.localDate(of: from), zone.localDate(of: to.adding(seconds: -1)))
        let days = ForecastService<Store>.anomalyRangeDays
        guard last.daysSinceEpoch - first.daysSinceEpoch < Int64(days) else {
            throw APIError.badParameter("from", "the range may span at most \(days) days")
        }
        let filters = try await params.filters(store: store, principal: principal)
        let list = try await forecasts.anomalies(
            AnomalyRequest(organizationID: principal.organizationID, from: first, to: last, filters: filters, now: now))
        let names = Dictionary(
            try await store.projects(organizationID: principal.organizationID).map { ($0.id, $0.name) },
            uniquingKeysWith: { a, _ in a })
        return .json(ForecastJSON.anomalies(list, from: first, to: last, projects: names))
    }

    /// Ingested values never hold control characters, and PostgreSQL refuses NUL: such a parameter is a 400 naming it.
    static func refuseControlCharacters(_ params: QueryParameters) throws {
        for (name, value) in params.values.sorted(by: { $0.key < $1.key }) where value.containsControlCharacters {
            throw APIError.badParameter(name, "must not contain control characters")
        }
    }
}
